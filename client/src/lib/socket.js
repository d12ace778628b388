// The room's websocket: connects with `since` = the last id seen, and on any
// close reconnects after a capped, jittered exponential backoff.

import { backoffDelay } from './backoff.js'

/** A connection that stayed up this long resets the backoff. */
const STABLE_MS = 5_000

/**
 * options:
 *   url():        the address to connect to now (reads the last id seen)
 *   onFrame(text) each text frame
 *   onStatus(s)   s = {state: 'connecting'|'open'|'waiting'|'stopped',
 *                      retryAt?: ms timestamp, attempt: n, reason?: string}
 *   WebSocket, setTimeout, clearTimeout, now, random: injectable for tests
 */
export class RoomSocket {
  constructor(options) {
    this.opts = {
      WebSocket: globalThis.WebSocket,
      setTimeout: (...a) => globalThis.setTimeout(...a),
      clearTimeout: (...a) => globalThis.clearTimeout(...a),
      now: () => Date.now(),
      random: Math.random,
      ...options,
    }
    this.ws = null
    this.attempt = 0
    this.timer = null
    this.stableTimer = null
    this.stopped = true
  }

  start() {
    this.stopped = false
    this.connect()
  }

  stop() {
    this.stopped = true
    this.clearTimers()
    if (this.ws) {
      const ws = this.ws
      this.ws = null
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null
      ws.close(1000, 'leaving the room')
    }
    this.status({ state: 'stopped' })
  }

  /** Skips the wait (e.g. the browser came back online). */
  retryNow() {
    if (this.stopped || this.ws) return
    this.clearTimers()
    this.connect()
  }

  clearTimers() {
    if (this.timer !== null) this.opts.clearTimeout(this.timer)
    if (this.stableTimer !== null) this.opts.clearTimeout(this.stableTimer)
    this.timer = this.stableTimer = null
  }

  status(s) {
    this.opts.onStatus?.({ attempt: this.attempt, ...s })
  }

  connect() {
    this.timer = null
    this.status({ state: 'connecting' })
    let ws
    try {
      ws = new this.opts.WebSocket(this.opts.url())
    } catch (e) {
      this.scheduleReconnect(String(e?.message ?? e))
      return
    }
    this.ws = ws
    ws.onopen = () => {
      this.status({ state: 'open' })
      this.stableTimer = this.opts.setTimeout(() => {
        this.stableTimer = null
        this.attempt = 0
      }, STABLE_MS)
    }
    ws.onmessage = (event) => {
      if (typeof event.data === 'string') this.opts.onFrame(event.data)
    }
    ws.onclose = (event) => {
      if (this.ws !== ws) return
      this.ws = null
      if (this.stableTimer !== null) this.opts.clearTimeout(this.stableTimer)
      this.stableTimer = null
      const reason = event?.reason || (event?.code ? `closed with code ${event.code}` : '')
      // 1013: the server dropped a subscriber that fell behind; resume at once.
      if (event?.code === 1013) this.attempt = 0
      this.scheduleReconnect(reason)
    }
    ws.onerror = () => {
      /* a close event always follows */
    }
  }

  scheduleReconnect(reason) {
    if (this.stopped) return
    const delay = backoffDelay(this.attempt, this.opts.random)
    this.attempt += 1
    this.status({ state: 'waiting', retryAt: this.opts.now() + delay, reason })
    this.timer = this.opts.setTimeout(() => this.connect(), delay)
  }
}
