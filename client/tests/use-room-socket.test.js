// @vitest-environment happy-dom
import { describe, it, expect, vi, beforeEach, afterEach } from 'vitest'
import { useRoomSocket, REPLAY_QUIET_MS } from '../src/room/composables/useRoomSocket.js'
import { withSetup } from './with-setup.js'

class FakeWebSocket {
  static all = []
  constructor(url) {
    this.url = url
    FakeWebSocket.all.push(this)
  }
  close() {}
  open() {
    this.onopen?.()
  }
  frame(value) {
    this.onmessage?.({ data: JSON.stringify(value) })
  }
  drop() {
    this.onclose?.({ code: 1006, reason: '' })
  }
}

let events, lastId, socket
beforeEach(() => {
  vi.useFakeTimers()
  vi.stubGlobal('WebSocket', FakeWebSocket)
  FakeWebSocket.all = []
  events = []
  lastId = -1
  socket = withSetup(() =>
    useRoomSocket({
      room: 'a b',
      lastId: () => lastId,
      onOpen: (reconnected) => events.push(['open', reconnected]),
      onFrame: (frame, replaying) => events.push([frame?.kind ?? null, replaying]),
      onReplayEnd: (first) => events.push(['replay end', first]),
    }),
  )
})
afterEach(() => {
  socket.unmount()
  vi.unstubAllGlobals()
  vi.useRealTimers()
})

const ws = () => FakeWebSocket.all.at(-1)

describe('useRoomSocket', () => {
  it('tells the replayed history from live frames, on every connect', () => {
    expect(ws().url).toMatch(/\/ws\/a%20b\?since=-1$/)
    expect(socket.result.connection.value.state).toBe('connecting')
    ws().open()
    expect(socket.result.connection.value.state).toBe('open')
    ws().frame({ kind: 'put_bot' })
    vi.advanceTimersByTime(REPLAY_QUIET_MS - 1)
    ws().frame({ kind: 'message' })
    // A live-only frame does not keep the burst going.
    vi.advanceTimersByTime(REPLAY_QUIET_MS - 1)
    ws().frame({ kind: 'bot_turn_queue' })
    vi.advanceTimersByTime(1)
    ws().frame({ kind: 'message' })
    expect(events).toEqual([
      ['open', false],
      ['put_bot', true],
      ['message', true],
      ['bot_turn_queue', true],
      ['replay end', true],
      ['message', false],
    ])
    events = []
    lastId = 41
    ws().drop()
    expect(socket.result.connection.value.state).toBe('waiting')
    vi.advanceTimersByTime(500)
    expect(ws().url).toMatch(/\?since=41$/)
    ws().open()
    ws().onmessage({ data: 'not json' })
    vi.advanceTimersByTime(REPLAY_QUIET_MS)
    expect(events).toEqual([
      ['open', true],
      [null, true],
      ['replay end', false],
    ])
  })
  it('retries at once when the browser is back online, and stops on unmount', () => {
    ws().open()
    ws().drop()
    expect(FakeWebSocket.all).toHaveLength(1)
    window.dispatchEvent(new Event('online'))
    expect(FakeWebSocket.all).toHaveLength(2)
    socket.unmount()
    expect(socket.result.connection.value.state).toBe('stopped')
    window.dispatchEvent(new Event('online'))
    expect(FakeWebSocket.all).toHaveLength(2)
    socket.unmount = () => {}
  })
})
