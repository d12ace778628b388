import { describe, it, expect } from 'vitest'
import { backoffDelay, BACKOFF } from '../src/lib/backoff.js'

describe('backoffDelay', () => {
  it('doubles with each attempt between half and all of the ceiling', () => {
    expect(backoffDelay(0, () => 0)).toBe(BACKOFF.baseMs / 2)
    expect(backoffDelay(0, () => 0.999999)).toBe(BACKOFF.baseMs)
    expect(backoffDelay(1, () => 0.999999)).toBe(BACKOFF.baseMs * 2)
    expect(backoffDelay(3, () => 0)).toBe((BACKOFF.baseMs * 8) / 2)
  })
  it('is capped', () => {
    expect(backoffDelay(50, () => 0.999999)).toBe(BACKOFF.capMs)
    expect(backoffDelay(1e9, () => 0)).toBe(BACKOFF.capMs / 2)
  })
  it('jitters: different random draws give different delays', () => {
    const delays = new Set([0.1, 0.3, 0.5, 0.7, 0.9].map((r) => backoffDelay(4, () => r)))
    expect(delays.size).toBe(5)
  })
  it('never goes below half the ceiling nor above the cap', () => {
    for (let attempt = 0; attempt < 40; attempt += 1) {
      const d = backoffDelay(attempt)
      expect(d).toBeGreaterThanOrEqual(BACKOFF.baseMs / 2)
      expect(d).toBeLessThanOrEqual(BACKOFF.capMs)
    }
  })
  it('treats odd attempts as 0', () => {
    expect(backoffDelay(-3, () => 0)).toBe(BACKOFF.baseMs / 2)
  })
})
