import { describe, it, expect, vi, beforeEach } from 'vitest'
import { useBotCalls } from '../src/room/composables/useBotCalls.js'
import { api } from '../src/lib/api.js'
import { started, finished, queue } from './bot-call-fixtures.js'

vi.mock('../src/lib/api.js', () => ({ api: { listBotCalls: vi.fn() } }))

beforeEach(() => {
  api.listBotCalls.mockReset()
})

describe('useBotCalls', () => {
  it('fetches the list once at a time, then catches up with since', async () => {
    api.listBotCalls.mockResolvedValue([finished(3), finished(2)])
    const calls = useBotCalls('r', { show: () => {} })
    const a = calls.load()
    expect(calls.load()).toBe(a)
    expect(calls.status.loading).toBe(true)
    await a
    expect(api.listBotCalls).toHaveBeenCalledTimes(1)
    expect(api.listBotCalls).toHaveBeenLastCalledWith('r', { since: null })
    expect(calls.store.loaded).toBe(true)
    expect(calls.store.calls.map((c) => c.id)).toEqual([3, 2])
    expect(calls.byMessage.value.get(103)).toBe(3)
    await calls.load()
    expect(api.listBotCalls).toHaveBeenLastCalledWith('r', { since: 3 })
  })
  it('says when the server does not record bot calls', async () => {
    api.listBotCalls.mockImplementation(async () => {
      throw Object.assign(new Error('Not found'), { status: 404 })
    })
    const calls = useBotCalls('r', { show: () => {} })
    await calls.load()
    expect(calls.status).toEqual({ loading: false, error: 'This NeCSuS server does not record bot calls.' })
    expect(calls.store.loaded).toBe(false)
  })
  it('fetches a call’s body with its bot and id', async () => {
    api.listBotCalls.mockResolvedValue([{ ...finished(5), response_body: '{}' }])
    const calls = useBotCalls('r', { show: () => {} })
    calls.onFrame({ kind: 'bot_call_finished', data: finished(5) }, false)
    await calls.fetchBody(calls.store.calls[0])
    expect(api.listBotCalls).toHaveBeenCalledWith('r', { botId: 1, since: 4 })
    expect(calls.store.calls[0].response_body).toBe('{}')
  })
  it('opens the log at a call, loading the list the first time', async () => {
    api.listBotCalls.mockResolvedValue([])
    const show = vi.fn()
    const calls = useBotCalls('r', { show })
    calls.openCall(9)
    expect(show).toHaveBeenCalledWith(9)
    await calls.load()
    calls.openCall(9)
    expect(api.listBotCalls).toHaveBeenCalledTimes(1)
  })
  it('forgets waits on connect, and on a reconnect calls not announced again', async () => {
    api.listBotCalls.mockResolvedValue([])
    const calls = useBotCalls('r', { show: () => {} })
    calls.onOpen(false)
    expect(calls.onFrame({ kind: 'bot_call_started', data: started(1) }, false)).toBe(true)
    expect(calls.onFrame({ kind: 'bot_call_started', data: started(2, { bot_id: 2 }) }, false)).toBe(true)
    calls.onFrame(queue(2), false)
    expect(calls.onFrame({ kind: 'message', data: { id: 1 } }, false)).toBe(false)
    calls.onOpen(true)
    expect(calls.store.queues).toEqual({})
    // The list is known (from the frames): catch up after the oldest in flight.
    expect(api.listBotCalls).toHaveBeenCalledWith('r', { since: null })
    calls.onFrame({ kind: 'bot_call_started', data: started(2, { bot_id: 2 }) }, true)
    calls.onFrame({ kind: 'message', data: { id: 5 } }, true)
    expect(Object.keys(calls.store.inflight)).toEqual(['2'])
  })
  it('links system messages to the log after the first replay only', () => {
    api.listBotCalls.mockResolvedValue([])
    const calls = useBotCalls('r', { show: () => {} })
    calls.onReplayEnd(false, [{ kind: 'system' }])
    expect(api.listBotCalls).not.toHaveBeenCalled()
    calls.onReplayEnd(true, [{ kind: 'user' }])
    expect(api.listBotCalls).not.toHaveBeenCalled()
    calls.onReplayEnd(true, [{ kind: 'user' }, { kind: 'system' }])
    expect(api.listBotCalls).toHaveBeenCalledTimes(1)
  })
})
