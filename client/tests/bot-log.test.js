import { describe, it, expect } from 'vitest'
import { callsByMessage } from '../src/lib/bot-call-store.js'
import { botFilterOptions, callBotKey, callIdFromHash } from '../src/lib/bot-log.js'
import { started, finished } from './bot-call-fixtures.js'

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
