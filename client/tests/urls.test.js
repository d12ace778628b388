import { describe, it, expect } from 'vitest'
import { resolveUrl, roomPath, roomFromPath, roomNameProblem, socketUrl, mediaKind } from '../src/lib/urls.js'

describe('resolveUrl against a bot URL', () => {
  const base = 'http://127.0.0.1:1234/bots/meme'
  it('resolves root-relative paths from the host', () => {
    expect(resolveUrl('/static/meme.png', base)).toBe('http://127.0.0.1:1234/static/meme.png')
  })
  it('resolves bare relative paths as siblings of the last segment', () => {
    expect(resolveUrl('meme.png', base)).toBe('http://127.0.0.1:1234/bots/meme.png')
    expect(resolveUrl('../x.png', base)).toBe('http://127.0.0.1:1234/x.png')
  })
  it('leaves absolute URLs alone', () => {
    expect(resolveUrl('https://example.com/a.png', base)).toBe('https://example.com/a.png')
  })
  it('resolves protocol-relative URLs with the bot scheme', () => {
    expect(resolveUrl('//cdn.example.com/a.png', 'https://bot.example/x')).toBe('https://cdn.example.com/a.png')
  })
  it('keeps data: URLs', () => {
    expect(resolveUrl('data:image/png;base64,AAAA', base)).toBe('data:image/png;base64,AAAA')
  })
  it('does nothing without a base', () => {
    expect(resolveUrl('/static/meme.png', null)).toBe('/static/meme.png')
    expect(resolveUrl('/static/meme.png', undefined)).toBe('/static/meme.png')
    expect(resolveUrl('/static/meme.png', '')).toBe('/static/meme.png')
  })
  it('does nothing with an unusable base', () => {
    expect(resolveUrl('a.png', 'not a url')).toBe('a.png')
    expect(resolveUrl('a.png', 'javascript:alert(1)')).toBe('a.png')
  })
  it('keeps empty and null values', () => {
    expect(resolveUrl('', base)).toBe('')
    expect(resolveUrl(null, base)).toBe(null)
    expect(resolveUrl(undefined, base)).toBe(undefined)
  })
  it('handles query strings and fragments', () => {
    expect(resolveUrl('?v=2', base)).toBe('http://127.0.0.1:1234/bots/meme?v=2')
    expect(resolveUrl('img.png#top', base)).toBe('http://127.0.0.1:1234/bots/img.png#top')
  })
  it('trims whitespace around the URL', () => {
    expect(resolveUrl('  /a.png ', base)).toBe('http://127.0.0.1:1234/a.png')
  })
})

describe('room paths', () => {
  it('encodes a room as one path segment', () => {
    expect(roomPath('my room/2')).toBe('/my%20room%2F2')
    expect(roomPath('café ☕')).toBe('/caf%C3%A9%20%E2%98%95')
    expect(roomPath('a?b#c%d')).toBe('/a%3Fb%23c%25d')
  })
  it('decodes the room from the page path', () => {
    expect(roomFromPath('/my%20room%2F2')).toBe('my room/2')
    expect(roomFromPath('/caf%C3%A9%20%E2%98%95')).toBe('café ☕')
    expect(roomFromPath('/')).toBe(null)
  })
  it('round-trips any name', () => {
    for (const name of ['a', 'A/b/c', ' spaced ', '100%', 'ünï/cødé 🙂', 'x+y=z&w']) {
      expect(roomFromPath(roomPath(name))).toBe(name)
    }
  })
  it('keeps an undecodable path as it is', () => {
    expect(roomFromPath('/bad%E0%A4%A')).toBe('bad%E0%A4%A')
  })
  it('refuses names the lobby cannot open', () => {
    expect(roomNameProblem('')).toMatch(/room name/)
    expect(roomNameProblem('   ')).toMatch(/room name/)
    expect(roomNameProblem('.')).toBeTruthy()
    expect(roomNameProblem('..')).toBeTruthy()
    expect(roomNameProblem('docs')).toMatch(/server/)
    expect(roomNameProblem('api')).toBeTruthy()
    expect(roomNameProblem('x'.repeat(257))).toBeTruthy()
    expect(roomNameProblem('Docs')).toBe(null)
    expect(roomNameProblem('docs/mine')).toBe(null)
    expect(roomNameProblem('group2-joel')).toBe(null)
  })
})

describe('socketUrl', () => {
  it('uses ws for http and wss for https, with since', () => {
    expect(socketUrl({ protocol: 'http:', host: '127.0.0.1:6277' }, 'a/b c', 41)).toBe(
      'ws://127.0.0.1:6277/ws/a%2Fb%20c?since=41',
    )
    expect(socketUrl({ protocol: 'https:', host: 'chat.example' }, 'r', -1)).toBe('wss://chat.example/ws/r?since=-1')
  })
})

describe('mediaKind', () => {
  it('plays video files in a video element and the rest as audio', () => {
    expect(mediaKind('http://x/a.mp4')).toBe('video')
    expect(mediaKind('http://x/a.webm?x=1')).toBe('video')
    expect(mediaKind('http://x/beep.wav')).toBe('audio')
    expect(mediaKind('http://x/song.mp3')).toBe('audio')
    expect(mediaKind(null)).toBe('audio')
  })
})
