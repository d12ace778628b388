import { describe, it, expect, vi } from 'vitest'
import { createNecsusApi } from '../src/lib/necsus-api.js'

const msg = (id) => ({ id, text: `m${id}` })

describe('window.Necsus', () => {
  it('calls a listener for messages already shown and later ones, once each', () => {
    const n = createNecsusApi()
    n.messageShown('el1', msg(1))
    n.messageShown('el2', msg(2))
    const seen = []
    n.api.addEventListener('message', (el, m) => seen.push([el, m.id]))
    n.messageShown('el3', msg(3))
    n.messageShown('el3', msg(3))
    expect(seen).toEqual([['el1', 1], ['el2', 2], ['el3', 3]])
  })
  it('does not add the same listener twice and can remove it', () => {
    const n = createNecsusApi()
    const fn = vi.fn()
    n.api.addEventListener('message', fn)
    n.api.addEventListener('message', fn)
    n.messageShown('e', msg(1))
    expect(fn).toHaveBeenCalledTimes(1)
    n.api.removeEventListener('message', fn)
    n.messageShown('e', msg(2))
    expect(fn).toHaveBeenCalledTimes(1)
  })
  it('ignores other event types', () => {
    const n = createNecsusApi()
    const fn = vi.fn()
    n.api.addEventListener('click', fn)
    n.messageShown('e', msg(1))
    expect(fn).not.toHaveBeenCalled()
  })
  it('keeps going when a listener throws', () => {
    const errors = []
    const n = createNecsusApi({ onListenerError: (e) => errors.push(e.message) })
    const good = vi.fn()
    n.api.addEventListener('message', () => {
      throw new Error('bot bug')
    })
    n.api.addEventListener('message', good)
    n.messageShown('e', msg(1))
    expect(errors).toEqual(['bot bug'])
    expect(good).toHaveBeenCalledTimes(1)
  })
  it('forgets cleared messages', () => {
    const n = createNecsusApi()
    n.messageShown('e', msg(1))
    n.messagesCleared()
    const fn = vi.fn()
    n.api.addEventListener('message', fn)
    expect(fn).not.toHaveBeenCalled()
  })
  it('focusMessageInput goes to the input handler', () => {
    const n = createNecsusApi()
    const focus = vi.fn()
    n.api.focusMessageInput('ignored before the input exists')
    n.setFocusHandler(focus)
    n.api.focusMessageInput('button clicked')
    n.api.focusMessageInput()
    expect(focus.mock.calls).toEqual([['button clicked'], [undefined]])
  })
})
