import { describe, it, expect } from 'vitest'
import { isFinished, isFailure } from '../src/lib/bot-call-record.js'
import { createCallStore, mergeCall, mergeCalls, catchUpSince, applyCallFrame } from '../src/lib/bot-call-store.js'
import { applyTurnQueueFrame, resetTurnQueues } from '../src/lib/turn-queues.js'
import { beginInflightResync, finishInflightResync, endsAnnouncement, isLiveOnlyFrame } from '../src/lib/bot-call-resync.js'
import { thinkingLines, thinkingWho } from '../src/lib/thinking-lines.js'
import { started, finished, full, queue, quizCall } from './bot-call-fixtures.js'

describe('finished and failed calls', () => {
  it('knows a call is over by its outcome', () => {
    expect(isFinished(started(1))).toBe(false)
    expect(isFinished(finished(1, { outcome: null, latency_ms: null }))).toBe(false)
    expect(isFinished(finished(1))).toBe(true)
    expect(isFailure(finished(1))).toBe(false)
    expect(isFailure(finished(1, { outcome: 'bad_status', status: 404 }))).toBe(true)
    expect(isFailure(started(1))).toBe(false)
  })
})

describe('merging calls', () => {
  it('keeps the body a websocket frame leaves out', () => {
    expect(mergeCall(full(1), finished(1, { latency_ms: 3 }))).toMatchObject({ response_body: '{"text":"reply 1"}', latency_ms: 3 })
  })
  it('never turns a finished call back into one in flight', () => {
    const done = finished(1)
    expect(mergeCall(done, started(1))).toBe(done)
    expect(mergeCall(started(1), finished(1))).toMatchObject({ outcome: 'ok', status: 200 })
  })
  it('inserts newest first, updates by id and caps the list', () => {
    const list = []
    mergeCalls(list, [started(2), full(1)])
    expect(list.map((c) => c.id)).toEqual([2, 1])
    mergeCalls(list, [finished(2), started(5), started(3)])
    expect(list.map((c) => c.id)).toEqual([5, 3, 2, 1])
    expect(list[2].outcome).toBe('ok')
    mergeCalls(list, [started(4), { id: 'x' }, null, { no: 'id' }], 3)
    expect(list.map((c) => c.id)).toEqual([5, 4, 3])
  })
  it('catches up after the oldest call still in flight, else after the newest', () => {
    expect(catchUpSince([])).toBe(-1)
    expect(catchUpSince(mergeCalls([], [finished(3), finished(7)]))).toBe(7)
    expect(catchUpSince(mergeCalls([], [finished(3), started(5), finished(7), started(6)]))).toBe(4)
  })
})

describe('websocket frames', () => {
  it('tracks calls in flight and records them', () => {
    const s = createCallStore()
    expect(applyCallFrame(s, { kind: 'bot_call_started', data: started(1) }, 50_000)).toBe(true)
    expect(s.inflight[1]).toMatchObject({ botId: 1, botName: 'EchoBot', since: 50_000, activation: 'match' })
    expect(s.calls.map((c) => c.id)).toEqual([1])
    expect(applyCallFrame(s, { kind: 'bot_call_finished', data: finished(1) }, 51_000)).toBe(true)
    expect(s.inflight).toEqual({})
    expect(s.calls[0]).toMatchObject({ outcome: 'ok', message_id: 101 })
  })
  it('leaves other frames and malformed ones alone', () => {
    const s = createCallStore()
    expect(applyCallFrame(s, { kind: 'message', data: { id: 1 } }, 0)).toBe(false)
    expect(applyCallFrame(s, { kind: 'bot_call_started', data: { bot_name: 'x' } }, 0)).toBe(false)
    expect(applyCallFrame(s, { kind: 'bot_call_finished' }, 0)).toBe(false)
    expect(applyCallFrame(s, null, 0)).toBe(false)
    expect(s).toEqual(createCallStore())
  })
  it('uses the server start time for calls announced on connect, never in the future', () => {
    const s = createCallStore()
    applyCallFrame(s, { kind: 'bot_call_started', data: started(1, { started: 990 }) }, 1_000_000, true)
    expect(s.inflight[1].since).toBe(990_000)
    applyCallFrame(s, { kind: 'bot_call_started', data: started(2, { started: 2000 }) }, 1_000_000, true)
    expect(s.inflight[2].since).toBe(1_000_000)
    // A live frame counts from when it arrived; a repeat keeps the first time.
    applyCallFrame(s, { kind: 'bot_call_started', data: started(3, { started: 1 }) }, 1_000_500)
    expect(s.inflight[3].since).toBe(1_000_500)
    applyCallFrame(s, { kind: 'bot_call_started', data: started(1, { started: 990 }) }, 1_005_000, true)
    expect(s.inflight[1].since).toBe(990_000)
  })
  it('does not start thinking again for a call already finished', () => {
    const s = createCallStore()
    applyCallFrame(s, { kind: 'bot_call_finished', data: finished(1) }, 0)
    applyCallFrame(s, { kind: 'bot_call_started', data: started(1) }, 0)
    expect(s.inflight).toEqual({})
  })
  it('names a transient form target by its URL', () => {
    const s = createCallStore()
    applyCallFrame(s, { kind: 'bot_call_started', data: started(1, { bot_id: null, bot_name: '' }) }, 0)
    expect(s.inflight[1]).toMatchObject({ botId: null, botName: 'http://127.0.0.1:1234/echo' })
  })
  it('forgets calls a reconnect does not announce again', () => {
    const s = createCallStore()
    for (const id of [1, 2, 3]) applyCallFrame(s, { kind: 'bot_call_started', data: started(id, { bot_id: id }) }, 0)
    beginInflightResync(s)
    applyCallFrame(s, { kind: 'bot_call_started', data: started(2, { bot_id: 2 }) }, 10, true)
    applyCallFrame(s, { kind: 'bot_call_finished', data: finished(3, { bot_id: 3 }) }, 10, true)
    applyCallFrame(s, { kind: 'bot_call_started', data: started(4, { bot_id: 4 }) }, 10, true)
    expect(finishInflightResync(s)).toBe(1)
    expect(Object.keys(s.inflight).map(Number)).toEqual([2, 4])
    expect(s.staleInflight).toBe(null)
    expect(finishInflightResync(s)).toBe(0)
  })
  it('knows when the announcement after connecting is over', () => {
    for (const kind of ['put_bot', 'bot_call_started', 'clear_messages']) expect(endsAnnouncement({ kind })).toBe(false)
    for (const kind of ['message', 'bot_call_finished', 'delete_bot', 'something_new']) expect(endsAnnouncement({ kind })).toBe(true)
    expect(endsAnnouncement(null)).toBe(true)
  })
})

describe('messages waiting for a bot (bot_turn_queue)', () => {
  it('keeps the count per bot, from the first frame saying some wait', () => {
    const s = createCallStore()
    expect(applyCallFrame(s, queue(1), 1000)).toBe(true)
    expect(s.queues).toEqual({ 'bot:7': { key: 'bot:7', botId: 7, botName: 'quizbot', waiting: 1, since: 1000 } })
    expect(applyTurnQueueFrame(s, queue(2), 1500)).toBe(true)
    expect(s.queues['bot:7']).toMatchObject({ waiting: 2, since: 1000 })
    expect(applyCallFrame(s, queue(1, { bot_id: 8, bot_name: 'other' }), 1600)).toBe(true)
    expect(Object.keys(s.queues)).toEqual(['bot:7', 'bot:8'])
    // Nothing else changes: no call appears, none is thought in flight.
    expect(s.calls).toEqual([])
    expect(s.inflight).toEqual({})
  })
  it('forgets a bot once nothing waits for it', () => {
    const s = createCallStore()
    applyCallFrame(s, queue(2), 1000)
    applyCallFrame(s, queue(1), 2000)
    expect(applyCallFrame(s, queue(0), 3000)).toBe(true)
    expect(s.queues).toEqual({})
    // Waiting 0 for a bot never heard of is fine too.
    expect(applyCallFrame(s, queue(0, { bot_id: 99 }), 3000)).toBe(true)
    expect(s.queues).toEqual({})
    // A new wait counts from its own first frame.
    applyCallFrame(s, queue(1), 4000)
    expect(s.queues['bot:7'].since).toBe(4000)
  })
  it('keys a bot without an id by its name', () => {
    const s = createCallStore()
    applyCallFrame(s, queue(1, { bot_id: null, bot_name: 'Ghost' }), 1000)
    applyCallFrame(s, queue(3, { bot_id: undefined, bot_name: 'Ghost' }), 1100)
    expect(s.queues).toEqual({ 'name:Ghost': { key: 'name:Ghost', botId: null, botName: 'Ghost', waiting: 3, since: 1000 } })
    applyCallFrame(s, queue(0, { bot_id: null, bot_name: 'Ghost' }), 1200)
    expect(s.queues).toEqual({})
  })
  it('names a bot with an id but no name', () => {
    const s = createCallStore()
    applyCallFrame(s, queue(1, { bot_name: '' }), 0)
    expect(s.queues['bot:7'].botName).toBe('Bot 7')
    applyCallFrame(s, queue(2, { bot_name: undefined }), 0)
    expect(s.queues['bot:7'].botName).toBe('Bot 7')
  })
  it('ignores malformed frames', () => {
    const s = createCallStore()
    for (const bad of [
      queue(-1),
      queue(1.5),
      queue('2'),
      queue(null),
      queue(1, { bot_id: null, bot_name: '' }),
      queue(1, { bot_id: 'x', bot_name: null }),
      { kind: 'bot_turn_queue' },
      { kind: 'bot_turn_queue', data: null },
      { kind: 'bot_turn_queue', data: 'waiting' },
    ]) {
      expect(applyCallFrame(s, bad, 0)).toBe(false)
    }
    expect(applyTurnQueueFrame(s, { kind: 'message', data: { waiting: 1, bot_id: 7 } }, 0)).toBe(false)
    expect(s).toEqual(createCallStore())
  })
  it('starts from nothing waiting on every (re)connect', () => {
    const s = createCallStore()
    applyCallFrame(s, quizCall(1), 1000)
    applyCallFrame(s, queue(2), 1000)
    applyCallFrame(s, queue(1, { bot_id: null, bot_name: 'Ghost' }), 1000)
    const queues = s.queues
    resetTurnQueues(s)
    expect(s.queues).toEqual({})
    expect(s.queues).toBe(queues) // the same (reactive) object
    // Calls in flight are the announcement's business, not this reset's.
    expect(Object.keys(s.inflight)).toEqual(['1'])
    expect(thinkingLines(s.inflight, s.queues).map((l) => thinkingWho(l))).toEqual(['quizbot is thinking…'])
    resetTurnQueues(s)
    expect(s.queues).toEqual({})
  })
  it('is live only: neither part of the replay burst nor the end of the announcement', () => {
    expect(isLiveOnlyFrame(queue(1))).toBe(true)
    expect(isLiveOnlyFrame(queue(0))).toBe(true)
    for (const kind of ['message', 'put_bot', 'bot_call_started', 'bot_call_finished', 'clear_messages', 'something_new']) {
      expect(isLiveOnlyFrame({ kind })).toBe(false)
    }
    expect(isLiveOnlyFrame(null)).toBe(false)
    expect(endsAnnouncement(queue(2))).toBe(false)
  })
  it('leaves a reconnect’s resync of calls in flight alone', () => {
    const s = createCallStore()
    applyCallFrame(s, quizCall(1), 0)
    applyCallFrame(s, quizCall(2, { bot_id: 8, bot_name: 'other' }), 0)
    beginInflightResync(s)
    // A frame racing the announcement ends nothing…
    if (endsAnnouncement(queue(1))) finishInflightResync(s)
    applyCallFrame(s, queue(1), 10, true)
    expect(s.staleInflight).toEqual(new Set([1, 2]))
    // …and the re-announced call is kept with the count.
    applyCallFrame(s, quizCall(1), 20, true)
    expect(finishInflightResync(s)).toBe(1)
    expect(thinkingLines(s.inflight, s.queues).map((l) => [l.id, l.waiting])).toEqual([[1, 1]])
  })
})
