import { describe, it, expect } from 'vitest'
import { createCallStore, applyCallFrame } from '../src/lib/bot-call-store.js'
import { thinkingLines, thinkingText, thinkingWho, waitingText, lineElapsedText } from '../src/lib/thinking-lines.js'
import { started, finished, queue, quizCall } from './bot-call-fixtures.js'

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
