import { describe, it, expect, vi } from 'vitest'
import { ref } from 'vue'
import { usePanels } from '../src/room/composables/usePanels.js'

describe('usePanels', () => {
  it('toggles one panel at a time and gives focus back to its button', () => {
    const header = ref({ focusToggle: vi.fn() })
    const p = usePanels(header)
    p.toggle('bots')
    expect(p.panel.value).toBe('bots')
    p.toggle('settings')
    expect(p.panel.value).toBe('settings')
    p.toggle('settings')
    expect(p.panel.value).toBe(null)
    p.toggle('log')
    p.close()
    expect(p.panel.value).toBe(null)
    expect(header.value.focusToggle).toHaveBeenCalledWith('log')
    p.close()
    expect(header.value.focusToggle).toHaveBeenCalledTimes(1)
  })
  it('opens the log at a call, each time anew, and forgets it on toggle', () => {
    const p = usePanels(ref(null))
    p.showCall(7)
    expect(p.panel.value).toBe('log')
    const first = p.focusCall.value
    p.showCall(7)
    expect(p.focusCall.value).toEqual({ id: 7, n: first.n + 1 })
    p.toggle('log')
    expect(p.focusCall.value).toBe(null)
    expect(p.panel.value).toBe(null)
  })
})
