import { describe, it, expect } from 'vitest'
import { exportBots, exportFileName, parseBotsJson, diffBots } from '../src/lib/bots-transfer.js'

const room = [
  { id: 3, room: 'r', name: 'Echo', responds_to: '', url: 'http://b/echo' },
  { id: 1, room: 'r', name: 'Hello', responds_to: null, url: 'http://b/hello' },
  { id: 7, room: 'r', name: 'Repeat', responds_to: 'repeat (?P<w>\\w+)', url: 'http://b/repeat' },
]

describe('exportBots', () => {
  it('writes name, responds_to and url in id order, without ids or rooms', () => {
    const data = JSON.parse(exportBots(room))
    expect(data).toEqual([
      { name: 'Hello', responds_to: '', url: 'http://b/hello' },
      { name: 'Echo', responds_to: '', url: 'http://b/echo' },
      { name: 'Repeat', responds_to: 'repeat (?P<w>\\w+)', url: 'http://b/repeat' },
    ])
  })
  it('round-trips through parseBotsJson', () => {
    const { bots, error } = parseBotsJson(exportBots(room))
    expect(error).toBe(null)
    expect(diffBots(room, bots)).toMatchObject({ added: [], removed: [] })
  })
  it('names the file after the room', () => {
    expect(exportFileName('group 2/joel')).toBe('necsus-bots-group-2-joel.json')
    expect(exportFileName('///')).toBe('necsus-bots-room.json')
  })
})

describe('parseBotsJson', () => {
  it('accepts an array or an object with bots, ignoring extra keys', () => {
    expect(parseBotsJson('[{"name":"A","url":"u","id":5,"room":"x"}]')).toEqual({
      bots: [{ name: 'A', responds_to: '', url: 'u' }],
      error: null,
    })
    expect(parseBotsJson('{"bots":[{"name":"A","url":"u"}]}').bots).toHaveLength(1)
    expect(parseBotsJson('[]')).toEqual({ bots: [], error: null })
  })
  it('explains what is wrong', () => {
    expect(parseBotsJson('{nope').error).toMatch(/not valid JSON/)
    expect(parseBotsJson('{"a":1}').error).toMatch(/list of bots/)
    expect(parseBotsJson('[1]').error).toMatch(/Bot 1/)
    expect(parseBotsJson('[{"url":"u"}]').error).toMatch(/name/)
    expect(parseBotsJson('[{"name":"A","url":3}]').error).toMatch(/url/)
    expect(parseBotsJson('[{"name":"A","url":"u","responds_to":[]}]').error).toMatch(/responds_to/)
  })
  it('treats a missing url as empty', () => {
    expect(parseBotsJson('[{"name":"A"}]').bots[0].url).toBe('')
  })
})

describe('diffBots', () => {
  it('sorts imported bots into new, identical and to be removed', () => {
    const imported = [
      { name: 'Echo', responds_to: '', url: 'http://b/echo' },
      { name: 'Hello', responds_to: '', url: 'http://b/hello-v2' },
      { name: 'Brand new', responds_to: 'x', url: 'http://b/new' },
    ]
    const d = diffBots(room, imported)
    expect(d.identical.map((b) => b.id)).toEqual([3])
    expect(d.added.map((b) => b.name)).toEqual(['Hello', 'Brand new'])
    expect(d.removed.map((b) => b.id)).toEqual([1, 7])
  })
  it('counts null and empty responds_to as the same', () => {
    const d = diffBots(room, [{ name: 'Hello', responds_to: '', url: 'http://b/hello' }])
    expect(d.identical.map((b) => b.id)).toEqual([1])
  })
  it('matches duplicates one to one', () => {
    const twice = [
      { name: 'Echo', responds_to: '', url: 'http://b/echo' },
      { name: 'Echo', responds_to: '', url: 'http://b/echo' },
    ]
    const d = diffBots(room, twice)
    expect(d.identical).toHaveLength(1)
    expect(d.added).toHaveLength(1)
  })
  it('into an empty room everything is new; an empty import removes everything', () => {
    expect(diffBots([], room).added).toHaveLength(3)
    expect(diffBots(room, []).removed).toHaveLength(3)
  })
  it('is case-sensitive on names and URLs', () => {
    const d = diffBots(room, [{ name: 'echo', responds_to: '', url: 'http://b/echo' }])
    expect(d.added).toHaveLength(1)
    expect(d.identical).toHaveLength(0)
  })
})
