import { describe, it, expect } from 'vitest'
import { createHistory, pushHistory, historyUp, historyDown, HISTORY_LIMIT } from '../src/lib/history.js'

function walk(history, keys, start = '') {
  let text = start
  for (const key of keys) {
    const r = key === 'up' ? historyUp(history, text) : historyDown(history, text)
    history = r.history
    text = r.text
  }
  return { history, text }
}

describe('message history', () => {
  it('walks back through sent messages and forward to the draft', () => {
    let h = createHistory()
    for (const t of ['one', 'two', 'three']) h = pushHistory(h, t)
    expect(walk(h, ['up'], 'draft').text).toBe('three')
    expect(walk(h, ['up', 'up'], 'draft').text).toBe('two')
    expect(walk(h, ['up', 'up', 'up'], 'draft').text).toBe('one')
    expect(walk(h, ['up', 'up', 'up', 'up'], 'draft').text).toBe('one')
    expect(walk(h, ['up', 'up', 'down'], 'draft').text).toBe('three')
    expect(walk(h, ['up', 'up', 'down', 'down'], 'draft').text).toBe('draft')
    expect(walk(h, ['up', 'down', 'down', 'down'], 'draft').text).toBe('draft')
  })
  it('leaves the text alone when there is no history or nothing newer', () => {
    const h = createHistory()
    expect(walk(h, ['up'], 'typed').text).toBe('typed')
    expect(walk(h, ['down'], 'typed').text).toBe('typed')
    const r = historyUp(h, 'x')
    expect(r.history).toBe(h)
  })
  it('keeps the last 20 and does not repeat the previous message', () => {
    let h = createHistory()
    for (let i = 0; i < 30; i += 1) h = pushHistory(h, `m${i}`)
    h = pushHistory(h, 'm29')
    expect(h.items.length).toBe(HISTORY_LIMIT)
    expect(h.items[0]).toBe('m10')
    expect(h.items.at(-1)).toBe('m29')
  })
  it('stops browsing after sending', () => {
    let h = pushHistory(pushHistory(createHistory(), 'a'), 'b')
    h = walk(h, ['up', 'up']).history
    h = pushHistory(h, 'a')
    expect(h.index).toBe(h.items.length)
    expect(walk(h, ['up']).text).toBe('a')
  })
  it('ignores junk loaded from storage', () => {
    const h = createHistory(['ok', 3, null, '', 'fine'])
    expect(h.items).toEqual(['ok', 'fine'])
  })
})
