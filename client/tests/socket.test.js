import { describe, it, expect, beforeEach } from 'vitest'
import { RoomSocket } from '../src/lib/socket.js'

class FakeWebSocket {
  static all = []
  constructor(url) {
    this.url = url
    this.closed = false
    FakeWebSocket.all.push(this)
  }
  close() {
    this.closed = true
  }
  // Test helpers
  open() {
    this.onopen?.()
  }
  frame(text) {
    this.onmessage?.({ data: text })
  }
  drop(code = 1006, reason = '') {
    this.onclose?.({ code, reason })
  }
}

function fakeTimers() {
  let now = 0
  let next = 1
  const timers = new Map()
  return {
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = next++
      timers.set(id, { fn, at: now + ms })
      return id
    },
    clearTimeout: (id) => timers.delete(id),
    advance(ms) {
      now += ms
      for (const [id, t] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
        if (t.at <= now && timers.has(id)) {
          timers.delete(id)
          t.fn()
        }
      }
    },
    pending: () => [...timers.values()].map((t) => t.at - now),
  }
}

describe('RoomSocket', () => {
  let timers, frames, statuses, lastId, socket
  beforeEach(() => {
    FakeWebSocket.all = []
    timers = fakeTimers()
    frames = []
    statuses = []
    lastId = -1
    socket = new RoomSocket({
      url: () => `ws://h/ws/r?since=${lastId}`,
      onFrame: (t) => frames.push(t),
      onStatus: (s) => statuses.push(s),
      WebSocket: FakeWebSocket,
      setTimeout: timers.setTimeout,
      clearTimeout: timers.clearTimeout,
      now: timers.now,
      random: () => 0.5,
    })
  })

  it('connects with since and passes frames on', () => {
    socket.start()
    const ws = FakeWebSocket.all[0]
    expect(ws.url).toBe('ws://h/ws/r?since=-1')
    ws.open()
    ws.frame('{"kind":"message"}')
    expect(frames).toEqual(['{"kind":"message"}'])
    expect(statuses.map((s) => s.state)).toEqual(['connecting', 'open'])
  })

  it('reconnects with the last id seen after a drop, backing off', () => {
    socket.start()
    FakeWebSocket.all[0].open()
    lastId = 42
    FakeWebSocket.all[0].drop()
    expect(statuses.at(-1)).toMatchObject({ state: 'waiting' })
    const firstDelay = timers.pending()[0]
    timers.advance(firstDelay)
    expect(FakeWebSocket.all).toHaveLength(2)
    expect(FakeWebSocket.all[1].url).toBe('ws://h/ws/r?since=42')
    // It fails straight away again: the next wait is longer.
    FakeWebSocket.all[1].drop()
    const secondDelay = timers.pending()[0]
    expect(secondDelay).toBeGreaterThan(firstDelay)
    FakeWebSocket.all[1].drop() // a stale socket's close is ignored
    expect(timers.pending()).toHaveLength(1)
  })

  it('resets the backoff once a connection has stayed up', () => {
    socket.start()
    for (let i = 0; i < 5; i += 1) {
      FakeWebSocket.all.at(-1).drop()
      timers.advance(timers.pending()[0])
    }
    const ws = FakeWebSocket.all.at(-1)
    ws.open()
    timers.advance(6000)
    ws.drop()
    expect(statuses.at(-1).attempt).toBe(1)
  })

  it('reconnects quickly after the server drops a lagging subscriber (1013)', () => {
    socket.start()
    for (let i = 0; i < 4; i += 1) {
      FakeWebSocket.all.at(-1).drop()
      timers.advance(timers.pending()[0])
    }
    FakeWebSocket.all.at(-1).open()
    FakeWebSocket.all.at(-1).drop(1013, 'fell behind; reconnect with since=9')
    expect(statuses.at(-1)).toMatchObject({ state: 'waiting', reason: 'fell behind; reconnect with since=9' })
    expect(timers.pending()[0]).toBeLessThanOrEqual(500)
  })

  it('stops for good', () => {
    socket.start()
    const ws = FakeWebSocket.all[0]
    socket.stop()
    expect(ws.closed).toBe(true)
    expect(statuses.at(-1).state).toBe('stopped')
    timers.advance(60_000)
    expect(FakeWebSocket.all).toHaveLength(1)
  })

  it('retries at once when asked while waiting', () => {
    socket.start()
    FakeWebSocket.all[0].drop()
    socket.retryNow()
    expect(FakeWebSocket.all).toHaveLength(2)
    expect(timers.pending()).toHaveLength(0)
  })

  it('survives a constructor that throws', () => {
    let throwOnce = true
    socket.opts.WebSocket = class extends FakeWebSocket {
      constructor(url) {
        if (throwOnce) {
          throwOnce = false
          throw new Error('bad url')
        }
        super(url)
      }
    }
    socket.start()
    expect(statuses.at(-1)).toMatchObject({ state: 'waiting', reason: 'bad url' })
    timers.advance(timers.pending()[0])
    expect(FakeWebSocket.all).toHaveLength(1)
  })
})
