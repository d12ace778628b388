import { describe, it, expect } from 'vitest'
import {
  createCallStore,
  isFinished,
  isFailure,
  mergeCall,
  mergeCalls,
  catchUpSince,
  applyCallFrame,
  beginInflightResync,
  finishInflightResync,
  endsAnnouncement,
  applyTurnQueueFrame,
  resetTurnQueues,
  isLiveOnlyFrame,
  thinkingLines,
  thinkingText,
  thinkingWho,
  waitingText,
  lineElapsedText,
  elapsedSeconds,
  elapsedText,
  formatLatency,
  outcomeText,
  statusText,
  replyText,
  shellQuote,
  curlCommand,
  callsByMessage,
  botFilterOptions,
  callBotKey,
  callIdFromHash,
} from '../src/lib/bot-calls.js'

const started = (id, extra = {}) => ({
  id,
  room: 'r',
  bot_id: 1,
  bot_name: 'EchoBot',
  url: 'http://127.0.0.1:1234/echo',
  activation: 'match',
  started: 1000 + id,
  ...extra,
})
const finished = (id, extra = {}) => ({
  ...started(id),
  request: { room: 'r', author: 'Ann', text: `hi ${id}`, params: {} },
  latency_ms: 12.5,
  status: 200,
  content_type: 'application/json',
  content_length: 20,
  response_truncated: false,
  outcome: 'ok',
  error: null,
  message_id: 100 + id,
  ...extra,
})
const full = (id, extra = {}) => ({ ...finished(id), response_body: `{"text":"reply ${id}"}`, ...extra })

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

describe('thinking lines', () => {
  it('shows one line per bot, the oldest call of each, in start order', () => {
    const s = createCallStore()
    applyCallFrame(s, { kind: 'bot_call_started', data: started(1, { bot_id: 7, bot_name: 'SleepBot' }) }, 1000)
    applyCallFrame(s, { kind: 'bot_call_started', data: started(2, { bot_id: 8, bot_name: 'EchoBot' }) }, 2000)
    applyCallFrame(s, { kind: 'bot_call_started', data: started(3, { bot_id: 7, bot_name: 'SleepBot' }) }, 3000)
    applyCallFrame(s, { kind: 'bot_call_started', data: started(4, { bot_id: null, bot_name: 'http://x/form', url: 'http://x/form', activation: 'form' }) }, 4000)
    const lines = thinkingLines(s.inflight)
    expect(lines.map((l) => [l.name, l.since])).toEqual([
      ['SleepBot', 1000],
      ['EchoBot', 2000],
      ['http://x/form', 4000],
    ])
    applyCallFrame(s, { kind: 'bot_call_finished', data: finished(1, { bot_id: 7 }) }, 5000)
    expect(thinkingLines(s.inflight).map((l) => [l.name, l.since])).toEqual([
      ['EchoBot', 2000],
      ['SleepBot', 3000],
      ['http://x/form', 4000],
    ])
  })
  it('adds the seconds once past two, and marks tests and replays', () => {
    const line = { name: 'SleepBot', since: 10_000, activation: 'match' }
    expect(thinkingText(line, 10_000)).toBe('SleepBot is thinking…')
    expect(thinkingText(line, 11_999)).toBe('SleepBot is thinking…')
    expect(thinkingText(line, 12_000)).toBe('SleepBot is thinking… 2 s')
    expect(thinkingText(line, 13_700)).toBe('SleepBot is thinking… 3 s')
    expect(thinkingText({ ...line, activation: 'test' }, 10_000)).toBe('SleepBot (test) is thinking…')
    expect(thinkingText({ ...line, activation: 'replay' }, 15_000)).toBe('SleepBot (replay) is thinking… 5 s')
  })
})

const queue = (waiting, extra = {}) => ({
  kind: 'bot_turn_queue',
  data: { room: 'r', bot_id: 7, bot_name: 'quizbot', waiting, ...extra },
})
const quizCall = (id, extra = {}) => ({
  kind: 'bot_call_started',
  data: started(id, { bot_id: 7, bot_name: 'quizbot', activation: 'conversation', ...extra }),
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

describe('thinking lines with messages waiting', () => {
  it('adds the count to the bot’s line, singular or plural', () => {
    const s = createCallStore()
    applyCallFrame(s, quizCall(1), 1000)
    expect(thinkingLines(s.inflight, s.queues).map(thinkingWho)).toEqual(['quizbot is thinking…'])
    applyCallFrame(s, queue(1), 1200)
    let lines = thinkingLines(s.inflight, s.queues)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ key: 'bot:7', id: 1, since: 1000, waiting: 1 })
    expect(thinkingWho(lines[0])).toBe('quizbot is thinking… 1 more message waiting for it')
    applyCallFrame(s, queue(2), 1400)
    lines = thinkingLines(s.inflight, s.queues)
    expect(thinkingWho(lines[0])).toBe('quizbot is thinking… 2 more messages waiting for it')
    applyCallFrame(s, queue(0), 1600)
    expect(thinkingLines(s.inflight, s.queues).map(thinkingWho)).toEqual(['quizbot is thinking…'])
  })
  it('keeps the seconds the call’s, after the count', () => {
    const line = { key: 'bot:7', botId: 7, name: 'quizbot', since: 10_000, id: 1, activation: 'conversation', waiting: 3 }
    expect(thinkingText(line, 11_000)).toBe('quizbot is thinking… 3 more messages waiting for it')
    expect(thinkingText(line, 14_000)).toBe('quizbot is thinking… 3 more messages waiting for it · 4 s')
    expect(thinkingText({ ...line, waiting: 0 }, 14_000)).toBe('quizbot is thinking… 4 s')
    expect(thinkingText({ ...line, activation: 'test', waiting: 1 }, 10_000)).toBe('quizbot (test) is thinking… 1 more message waiting for it')
  })
  it('gives a bot with messages waiting but no call in flight a line of its own', () => {
    const s = createCallStore()
    applyCallFrame(s, { kind: 'bot_call_started', data: started(1, { bot_id: 8, bot_name: 'EchoBot' }) }, 1000)
    applyCallFrame(s, queue(1), 2000)
    let lines = thinkingLines(s.inflight, s.queues)
    expect(lines.map((l) => [l.key, l.id, l.waiting])).toEqual([
      ['bot:8', 1, 0],
      ['bot:7', null, 1],
    ])
    expect(thinkingWho(lines[1])).toBe('quizbot — 1 message waiting')
    // No call, so no seconds, however long it waits.
    expect(lineElapsedText(lines[1], 60_000)).toBe('')
    expect(thinkingText(lines[1], 60_000)).toBe('quizbot — 1 message waiting')
    applyCallFrame(s, queue(2), 3000)
    expect(thinkingWho(thinkingLines(s.inflight, s.queues)[1])).toBe('quizbot — 2 messages waiting')
    // Its call starts: the same line (same key) now thinks.
    applyCallFrame(s, quizCall(2), 4000)
    lines = thinkingLines(s.inflight, s.queues)
    expect(lines.map((l) => [l.key, l.id, l.waiting])).toEqual([
      ['bot:8', 1, 0],
      ['bot:7', 2, 2],
    ])
    expect(thinkingWho(lines[1])).toBe('quizbot is thinking… 2 more messages waiting for it')
    // The call ends before the count drops: the wait shows on its own.
    applyCallFrame(s, { kind: 'bot_call_finished', data: finished(2, { bot_id: 7, bot_name: 'quizbot' }) }, 5000)
    expect(thinkingLines(s.inflight, s.queues).map(thinkingWho)).toEqual(['EchoBot is thinking…', 'quizbot — 2 messages waiting'])
    applyCallFrame(s, queue(0), 5001)
    expect(thinkingLines(s.inflight, s.queues).map(thinkingWho)).toEqual(['EchoBot is thinking…'])
  })
  it('matches a bot without an id to its call by name', () => {
    const s = createCallStore()
    applyCallFrame(s, { kind: 'bot_call_started', data: started(1, { bot_id: null, bot_name: 'Ghost', url: 'http://x/g' }) }, 1000)
    applyCallFrame(s, queue(2, { bot_id: null, bot_name: 'Ghost' }), 1100)
    applyCallFrame(s, queue(1, { bot_id: null, bot_name: 'Other' }), 1200)
    expect(thinkingLines(s.inflight, s.queues).map(thinkingWho)).toEqual([
      'Ghost is thinking… 2 more messages waiting for it',
      'Other — 1 message waiting',
    ])
  })
  it('has no count without queues, and skips empty ones', () => {
    const s = createCallStore()
    applyCallFrame(s, quizCall(1), 1000)
    expect(thinkingLines(s.inflight)[0].waiting).toBe(0)
    expect(thinkingLines(s.inflight, { 'bot:7': { key: 'bot:7', botId: 7, botName: 'quizbot', waiting: 0, since: 0 } })[0].waiting).toBe(0)
    expect(thinkingLines({}, { 'bot:9': { key: 'bot:9', botId: 9, botName: 'x', waiting: 0, since: 0 } })).toEqual([])
  })
  it('says how many more messages wait', () => {
    expect(waitingText(0)).toBe('')
    expect(waitingText(undefined)).toBe('')
    expect(waitingText(1)).toBe('1 more message waiting for it')
    expect(waitingText(2)).toBe('2 more messages waiting for it')
    expect(waitingText(11)).toBe('11 more messages waiting for it')
  })
})

describe('elapsed time and latency', () => {
  it('counts whole seconds, never below zero', () => {
    expect(elapsedSeconds(5000, 4000)).toBe(0)
    expect(elapsedSeconds(0, 2999)).toBe(2)
    expect(elapsedText(0, 1999)).toBe('')
    expect(elapsedText(0, 59_999)).toBe('59 s')
    expect(elapsedText(0, 61_000)).toBe('1 min 01 s')
    expect(elapsedText(0, 125_000)).toBe('2 min 05 s')
  })
  it('formats latencies for people', () => {
    expect(formatLatency(0.42)).toBe('0.4 ms')
    expect(formatLatency(9.94)).toBe('9.9 ms')
    expect(formatLatency(9.96)).toBe('10 ms')
    expect(formatLatency(35.4)).toBe('35 ms')
    expect(formatLatency(2312)).toBe('2.31 s')
    expect(formatLatency(20_450)).toBe('20.4 s')
    expect(formatLatency(120_000)).toBe('120 s')
    expect(formatLatency(null)).toBe('')
    expect(formatLatency(-1)).toBe('')
  })
})

describe('words for a call', () => {
  it('describes outcomes and statuses', () => {
    expect(outcomeText(started(1))).toBe('in flight')
    expect(outcomeText(finished(1))).toBe('ok')
    expect(outcomeText(finished(1, { outcome: 'cannot_connect' }))).toBe('cannot connect')
    expect(outcomeText(finished(1, { outcome: 'not_json' }))).toBe('not JSON')
    expect(outcomeText(finished(1, { outcome: 'some_new_thing' }))).toBe('some new thing')
    expect(statusText(404)).toBe('404')
    expect(statusText(null)).toBe('—')
  })
  it('finds the reply text in a body', () => {
    expect(replyText('{"text":"Hello, NeCSuS!"}')).toBe('Hello, NeCSuS!')
    expect(replyText('{"text":5}')).toBe(null)
    expect(replyText('["text"]')).toBe(null)
    expect(replyText('Not Found')).toBe(null)
    expect(replyText(null)).toBe(null)
  })
  it('writes a curl command that survives any quote', () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`)
    const call = finished(1, { request: { room: "Ann's room", author: 'A', text: 'x', params: {} } })
    expect(curlCommand(call)).toBe(
      `curl -X POST 'http://127.0.0.1:1234/echo' -H 'Content-Type: application/json' ` +
        `-d '{"room":"Ann'\\''s room","author":"A","text":"x","params":{}}'`,
    )
  })
})

describe('links and filters', () => {
  it('maps room messages to the calls that produced them', () => {
    const map = callsByMessage([finished(2, { message_id: 50 }), finished(1, { message_id: null }), started(3)])
    expect([...map]).toEqual([[50, 2]])
  })
  it('offers the room’s bots and any other call target, by name', () => {
    const bots = [
      { id: 2, name: 'Zed' },
      { id: 1, name: 'EchoBot' },
    ]
    const calls = [finished(1, { bot_id: 1 }), finished(2, { bot_id: 9, bot_name: 'Gone' }), finished(3, { bot_id: null, bot_name: '', url: 'http://x/f' })]
    expect(botFilterOptions(bots, calls)).toEqual([
      { key: 'bot:1', label: 'EchoBot' },
      { key: 'bot:9', label: 'Gone' },
      { key: 'url:http://x/f', label: 'http://x/f' },
      { key: 'bot:2', label: 'Zed' },
    ])
    expect(callBotKey(calls[2])).toBe('url:http://x/f')
  })
  it('reads a call id from the location hash', () => {
    expect(callIdFromHash('#bot-call-12')).toBe(12)
    expect(callIdFromHash('#bot-call-x')).toBe(null)
    expect(callIdFromHash('')).toBe(null)
  })
})
