import { describe, it, expect } from 'vitest'
import { relativeTime, absoluteTime } from '../src/lib/reltime.js'

const now = Date.UTC(2024, 0, 15, 12, 0, 0)
const ago = (seconds) => now / 1000 - seconds

describe('relativeTime', () => {
  it('says "just now" for the last 45 seconds and the near future', () => {
    expect(relativeTime(ago(0), now)).toBe('just now')
    expect(relativeTime(ago(44.9), now)).toBe('just now')
    expect(relativeTime(ago(-30), now)).toBe('just now')
  })
  it('counts minutes', () => {
    expect(relativeTime(ago(60), now)).toBe('1 minute ago')
    expect(relativeTime(ago(100), now)).toBe('2 minutes ago')
    expect(relativeTime(ago(3 * 60), now)).toBe('3 minutes ago')
    expect(relativeTime(ago(59 * 60), now)).toBe('59 minutes ago')
  })
  it('counts hours, then days', () => {
    expect(relativeTime(ago(3600), now)).toBe('1 hour ago')
    expect(relativeTime(ago(5 * 3600 + 1200), now)).toBe('5 hours ago')
    expect(relativeTime(ago(30 * 3600), now)).toBe('yesterday')
    expect(relativeTime(ago(3 * 86400), now)).toBe('3 days ago')
  })
  it('gives a date for old messages', () => {
    expect(relativeTime(ago(90 * 86400), now)).toMatch(/^on \d{4}-\d{2}-\d{2}$/)
  })
  it('accepts fractional seconds as the server sends them', () => {
    expect(relativeTime(ago(125.75), now)).toBe('2 minutes ago')
  })
  it('gives nothing for a missing time', () => {
    expect(relativeTime(undefined, now)).toBe('')
    expect(relativeTime('1700000000', now)).toBe('')
    expect(absoluteTime(null)).toBe('')
    expect(absoluteTime(1700000000)).not.toBe('')
  })
})
