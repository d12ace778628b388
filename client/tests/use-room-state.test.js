import { describe, it, expect, vi } from 'vitest'
import { isReactive } from 'vue'
import { useRoomState } from '../src/room/composables/useRoomState.js'
import { api } from '../src/lib/api.js'

vi.mock('../src/lib/api.js', () => ({ api: { listBots: vi.fn() } }))

const message = (id, extra = {}) => ({ kind: 'message', data: { id, kind: 'user', author: 'A', text: 'hi', state: null, ...extra } })

describe('useRoomState', () => {
  it('keeps messages shallow, follows the conversation and tells the page of a clear', () => {
    const necsus = { messagesCleared: vi.fn() }
    const room = useRoomState(necsus)
    expect(room.applyFrame(message(1)).kind).toBe('message')
    expect(isReactive(room.state.messages[0])).toBe(false)
    expect(room.conversation.value).toBe(null)
    room.applyFrame(message(2, { kind: 'bot', author: 'quiz', from_bot: 3, state: { q: 1 } }))
    expect(room.conversation.value).toMatchObject({ author: 'quiz', botId: 3 })
    expect(room.applyFrame(null)).toBe(null)
    room.applyFrame({ kind: 'clear_messages' })
    expect(necsus.messagesCleared).toHaveBeenCalledTimes(1)
    expect(room.state.messages).toEqual([])
    expect(room.conversation.value).toBe(null)
  })
  it('drops bots deleted while away, and keeps them all if the list fails', async () => {
    const room = useRoomState({ messagesCleared() {} })
    for (const id of [1, 2, 3]) room.applyFrame({ kind: 'put_bot', data: { id, name: `b${id}` } })
    api.listBots.mockResolvedValueOnce([{ id: 1 }, { id: 3 }])
    await room.resyncBots('r')
    expect(api.listBots).toHaveBeenCalledWith('r')
    expect(room.state.bots.map((b) => b.id)).toEqual([1, 3])
    api.listBots.mockRejectedValueOnce(new Error('down'))
    await room.resyncBots('r')
    expect(room.state.bots.map((b) => b.id)).toEqual([1, 3])
    expect(room.state.staleBotIds).toBe(null)
  })
})
