// @vitest-environment happy-dom
import { describe, it, expect, afterEach } from 'vitest'
import { createApp, reactive, nextTick } from 'vue'
import ThinkingBar from '../src/room/ThinkingBar.vue'
import { createCallStore, applyCallFrame } from '../src/lib/bot-call-store.js'
import { resetTurnQueues } from '../src/lib/turn-queues.js'

let app = null
afterEach(() => {
  app?.unmount()
  app = null
  document.body.innerHTML = ''
})

function mount(store) {
  const el = document.createElement('div')
  document.body.append(el)
  app = createApp(ThinkingBar, { inflight: store.inflight, queues: store.queues })
  app.mount(el)
  return el
}

const started = (id, botId, name, since = null) => ({
  kind: 'bot_call_started',
  data: { id, room: 'r', bot_id: botId, bot_name: name, url: `http://x/${name}`, activation: 'conversation', started: since },
})
const queue = (waiting, botId = 7, name = 'quizbot') => ({
  kind: 'bot_turn_queue',
  data: { room: 'r', bot_id: botId, bot_name: name, waiting },
})
const lineTexts = (el) => [...el.querySelectorAll('.thinking-line')].map((p) => p.textContent)

describe('ThinkingBar', () => {
  it('shows the messages waiting in the polite status region, and clears them', async () => {
    const store = reactive(createCallStore())
    const el = mount(store)
    const region = el.querySelector('.thinking')
    expect(region.getAttribute('role')).toBe('status')
    applyCallFrame(store, started(1, 7, 'quizbot'), Date.now())
    await nextTick()
    expect(lineTexts(el)).toEqual(['quizbot is thinking…'])
    applyCallFrame(store, queue(1), Date.now())
    await nextTick()
    expect(lineTexts(el)).toEqual(['quizbot is thinking… 1 more message waiting for it'])
    const line = el.querySelector('.thinking-line')
    expect(line.dataset.waiting).toBe('1')
    expect(line.dataset.callId).toBe('1')
    applyCallFrame(store, queue(2), Date.now())
    await nextTick()
    expect(lineTexts(el)).toEqual(['quizbot is thinking… 2 more messages waiting for it'])
    // The same element: the count changes in place.
    expect(el.querySelector('.thinking-line')).toBe(line)
    applyCallFrame(store, queue(0), Date.now())
    await nextTick()
    expect(lineTexts(el)).toEqual(['quizbot is thinking…'])
    expect(line.hasAttribute('data-waiting')).toBe(false)
  })
  it('keeps the ticking seconds hidden from screen readers, after a dot', async () => {
    const store = reactive(createCallStore())
    applyCallFrame(store, started(1, 7, 'quizbot'), Date.now() - 5_000)
    applyCallFrame(store, queue(3), Date.now())
    const el = mount(store)
    await nextTick()
    expect(lineTexts(el)[0]).toMatch(/^quizbot is thinking… 3 more messages waiting for it · [5-6] s$/)
    expect(el.querySelector('.who').textContent).toBe('quizbot is thinking… 3 more messages waiting for it')
    expect(el.querySelector('.elapsed').getAttribute('aria-hidden')).toBe('true')
  })
  it('shows a wait with no call in flight on a still line, and forgets it on reconnect', async () => {
    const store = reactive(createCallStore())
    const el = mount(store)
    applyCallFrame(store, queue(1), Date.now() - 10_000)
    await nextTick()
    expect(lineTexts(el)).toEqual(['quizbot — 1 message waiting'])
    const line = el.querySelector('.thinking-line')
    expect(line.classList.contains('queued')).toBe(true)
    expect(line.hasAttribute('data-call-id')).toBe(false)
    resetTurnQueues(store)
    await nextTick()
    expect(lineTexts(el)).toEqual([])
  })
})
