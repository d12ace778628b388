import { describe, it, expect } from 'vitest'
import { createRoomState, applyFrame, parseFrame, currentConversation } from '../src/lib/room-state.js'

const msg = (id, extra = {}) => ({ id, room: 'r', author: 'a', kind: 'user', text: `m${id}`, when: 1, state: null, ...extra })
const bot = (id, name = `b${id}`) => ({ id, room: 'r', name, responds_to: '', url: '' })

describe('applyFrame', () => {
  it('appends messages in order and drops duplicates and old ids', () => {
    const s = createRoomState()
    expect(applyFrame(s, { kind: 'message', data: msg(1) })).toMatchObject({ kind: 'message' })
    applyFrame(s, { kind: 'message', data: msg(2) })
    expect(applyFrame(s, { kind: 'message', data: msg(2) })).toBe(null)
    expect(applyFrame(s, { kind: 'message', data: msg(1) })).toBe(null)
    applyFrame(s, { kind: 'message', data: msg(5) })
    expect(s.messages.map((m) => m.id)).toEqual([1, 2, 5])
    expect(s.lastId).toBe(5)
  })
  it('upserts bots by id, keeping id order, and deletes them', () => {
    const s = createRoomState()
    applyFrame(s, { kind: 'put_bot', data: bot(4) })
    applyFrame(s, { kind: 'put_bot', data: bot(2) })
    applyFrame(s, { kind: 'put_bot', data: bot(9) })
    applyFrame(s, { kind: 'put_bot', data: bot(4, 'renamed') })
    expect(s.bots.map((b) => [b.id, b.name])).toEqual([[2, 'b2'], [4, 'renamed'], [9, 'b9']])
    applyFrame(s, { kind: 'delete_bot', data: bot(4) })
    expect(s.bots.map((b) => b.id)).toEqual([2, 9])
    expect(applyFrame(s, { kind: 'delete_bot', data: bot(4) })).toBe(null)
  })
  it('clears messages but keeps the last id, so a resume does not replay', () => {
    const s = createRoomState()
    applyFrame(s, { kind: 'message', data: msg(1) })
    applyFrame(s, { kind: 'message', data: msg(2) })
    applyFrame(s, { kind: 'clear_messages', data: {} })
    expect(s.messages).toEqual([])
    expect(s.lastId).toBe(2)
    applyFrame(s, { kind: 'message', data: msg(3) })
    expect(s.messages.map((m) => m.id)).toEqual([3])
  })
  it('ignores unknown kinds and malformed frames', () => {
    const s = createRoomState()
    expect(applyFrame(s, { kind: 'typing', data: {} })).toBe(null)
    expect(applyFrame(s, null)).toBe(null)
    expect(applyFrame(s, { kind: 'message', data: { text: 'no id' } })).toBe(null)
    expect(applyFrame(s, { kind: 'put_bot' })).toBe(null)
    expect(s).toEqual(createRoomState())
  })
  it('never takes a bot_turn_queue frame for a message or a bot', () => {
    const s = createRoomState()
    applyFrame(s, { kind: 'message', data: msg(3, { kind: 'bot', author: 'quizbot', from_bot: 7, state: 1 }) })
    const queue = (data) => ({ kind: 'bot_turn_queue', data: { room: 'r', bot_id: 7, bot_name: 'quizbot', waiting: 2, ...data } })
    // Even one that happens to carry a message's or a bot's fields.
    for (const frame of [queue({}), queue({ id: 9, text: 'x' }), queue({ waiting: 0 }), queue({ bot_id: null })]) {
      expect(applyFrame(s, frame)).toBe(null)
    }
    expect(s.messages.map((m) => m.id)).toEqual([3])
    expect(s.lastId).toBe(3)
    expect(s.bots).toEqual([])
    expect(currentConversation(s.messages)).toEqual({ author: 'quizbot', botId: 7, state: 1 })
    const parsed = parseFrame('{"kind":"bot_turn_queue","data":{"room":"r","bot_id":7,"bot_name":"quizbot","waiting":1}}')
    expect(applyFrame(s, parsed)).toBe(null)
    expect(s.lastId).toBe(3)
  })
})

describe('parseFrame', () => {
  it('parses JSON objects only', () => {
    expect(parseFrame('{"kind":"message","data":{}}')).toEqual({ kind: 'message', data: {} })
    expect(parseFrame('[1]')).toBe(null)
    expect(parseFrame('nope')).toBe(null)
    expect(parseFrame('null')).toBe(null)
  })
})

describe('currentConversation', () => {
  it('is the newest message when it carries state, even a falsy one', () => {
    expect(currentConversation([])).toBe(null)
    expect(currentConversation([msg(1)])).toBe(null)
    const withState = (state) => [msg(1), msg(2, { kind: 'bot', author: 'StateBot', from_bot: 7, state })]
    expect(currentConversation(withState({ count: 1 }))).toEqual({ author: 'StateBot', botId: 7, state: { count: 1 } })
    expect(currentConversation(withState(''))).toMatchObject({ author: 'StateBot' })
    expect(currentConversation(withState(0))).toMatchObject({ author: 'StateBot' })
    expect(currentConversation(withState(false))).toMatchObject({ author: 'StateBot' })
  })
  it('ends with any later message without state', () => {
    const messages = [msg(1, { kind: 'bot', author: 'S', state: { a: 1 } }), msg(2, { kind: 'system' })]
    expect(currentConversation(messages)).toBe(null)
  })
})

import { beginBotResync, finishBotResync } from '../src/lib/room-state.js'

describe('bot resync after a reconnect', () => {
  it('drops bots deleted while disconnected, keeps replayed and new ones', () => {
    const s = createRoomState()
    for (const id of [1, 2, 3]) applyFrame(s, { kind: 'put_bot', data: bot(id) })
    beginBotResync(s)
    // The replay shows bot 1 again, and a bot 4 created meanwhile.
    applyFrame(s, { kind: 'put_bot', data: bot(1) })
    applyFrame(s, { kind: 'put_bot', data: bot(4) })
    // The listing (taken after the socket opened) has 1, 3 and 4: 2 is gone.
    expect(finishBotResync(s, [bot(1), bot(3), bot(4)])).toBe(1)
    expect(s.bots.map((b) => b.id)).toEqual([1, 3, 4])
    expect(s.staleBotIds).toBe(null)
  })
  it('keeps a bot the replay showed even if the listing missed it', () => {
    const s = createRoomState()
    applyFrame(s, { kind: 'put_bot', data: bot(1) })
    beginBotResync(s)
    applyFrame(s, { kind: 'put_bot', data: bot(1, 'renamed') })
    finishBotResync(s, [])
    expect(s.bots.map((b) => b.name)).toEqual(['renamed'])
  })
  it('does nothing without a resync in progress or with a failed listing', () => {
    const s = createRoomState()
    applyFrame(s, { kind: 'put_bot', data: bot(1) })
    expect(finishBotResync(s, [])).toBe(0)
    beginBotResync(s)
    expect(finishBotResync(s, null)).toBe(0)
    expect(s.bots).toHaveLength(1)
  })
})
