import { describe, it, expect } from 'vitest'
import { loadSettings, saveSettings, displayName, DEFAULT_SETTINGS, loadHistoryItems, saveHistoryItems } from '../src/lib/settings.js'
import { randomBotName, ANIMALS } from '../src/lib/animals.js'
import { rememberRoom, loadRecentRooms, saveRecentRooms, RECENT_LIMIT } from '../src/lib/recent-rooms.js'

function memoryStorage() {
  const data = new Map()
  return { getItem: (k) => (data.has(k) ? data.get(k) : null), setItem: (k, v) => data.set(k, String(v)) }
}

describe('settings', () => {
  it('defaults to Anonymous with speech and lecture mode off', () => {
    expect(loadSettings(memoryStorage())).toEqual(DEFAULT_SETTINGS)
    expect(DEFAULT_SETTINGS).toMatchObject({ name: 'Anonymous', speak: false, speechInput: false, lecture: false })
  })
  it('round-trips and ignores keys of the wrong type', () => {
    const s = memoryStorage()
    saveSettings(s, { ...DEFAULT_SETTINGS, name: 'Joel', speak: true })
    expect(loadSettings(s)).toMatchObject({ name: 'Joel', speak: true })
    s.setItem('necsus.settings', '{"name": 5, "lecture": true}')
    expect(loadSettings(s)).toMatchObject({ name: 'Anonymous', lecture: true })
    s.setItem('necsus.settings', 'garbage')
    expect(loadSettings(s)).toEqual(DEFAULT_SETTINGS)
  })
  it('survives storage that throws', () => {
    const broken = { getItem: () => { throw new Error('no') }, setItem: () => { throw new Error('no') } }
    expect(loadSettings(broken)).toEqual(DEFAULT_SETTINGS)
    expect(() => saveSettings(broken, DEFAULT_SETTINGS)).not.toThrow()
    expect(loadHistoryItems(broken)).toEqual([])
  })
  it('sends a blank name as Anonymous', () => {
    expect(displayName({ name: '  ' })).toBe('Anonymous')
    expect(displayName({ name: ' Ann ' })).toBe('Ann')
  })
  it('keeps the message history', () => {
    const s = memoryStorage()
    saveHistoryItems(s, ['a', 'b'])
    expect(loadHistoryItems(s)).toEqual(['a', 'b'])
  })
})

describe('randomBotName', () => {
  it('runs three different animals together', () => {
    const name = randomBotName()
    const parts = name.match(/[A-Z][a-z]+/g)
    expect(parts).toHaveLength(3)
    for (const p of parts) expect(ANIMALS).toContain(p)
    expect(new Set(parts).size).toBe(3)
  })
  it('stays three different animals even with a stuck random source', () => {
    expect(randomBotName(() => 0)).toBe(ANIMALS.slice(0, 3).join(''))
  })
})

describe('recent rooms', () => {
  it('keeps the newest first, without repeats, up to the limit', () => {
    let list = []
    for (let i = 0; i < 12; i += 1) list = rememberRoom(list, `r${i}`)
    list = rememberRoom(list, 'r5')
    expect(list[0]).toBe('r5')
    expect(list).toHaveLength(RECENT_LIMIT)
    expect(new Set(list).size).toBe(list.length)
    const s = memoryStorage()
    saveRecentRooms(s, list)
    expect(loadRecentRooms(s)).toEqual(list)
  })
})
