// @vitest-environment happy-dom
import { describe, it, expect, vi, afterEach } from 'vitest'
import { ref, nextTick } from 'vue'
import { useClock } from '../src/room/composables/useClock.js'
import { withSetup } from './with-setup.js'

afterEach(() => vi.useRealTimers())

describe('useClock', () => {
  it('ticks while running, stops when told and when unmounted', async () => {
    vi.useFakeTimers({ now: 1_000 })
    const running = ref(true)
    const { result: now, unmount } = withSetup(() => useClock(500, () => running.value))
    expect(now.value).toBe(1_000)
    vi.advanceTimersByTime(1_000)
    expect(now.value).toBe(2_000)
    running.value = false
    await nextTick()
    vi.advanceTimersByTime(1_000)
    expect(now.value).toBe(2_000)
    running.value = true
    await nextTick()
    // Restarting reads the time at once.
    expect(now.value).toBe(3_000)
    unmount()
    vi.advanceTimersByTime(1_000)
    expect(now.value).toBe(3_000)
    expect(vi.getTimerCount()).toBe(0)
  })
})
