// @vitest-environment happy-dom
import { describe, it, expect, vi, afterEach } from 'vitest'
import { reactive, computed } from 'vue'
import { useReadAloud, useMicrophone } from '../src/room/composables/useSpeech.js'
import { withSetup } from './with-setup.js'

afterEach(() => vi.unstubAllGlobals())

describe('useReadAloud', () => {
  it('reads others’ messages as text, when the setting is on', () => {
    const said = []
    vi.stubGlobal('speechSynthesis', { speak: (u) => said.push(u.text) })
    vi.stubGlobal('SpeechSynthesisUtterance', function (text) {
      this.text = text
    })
    const settings = reactive({ speak: true })
    const readAloud = useReadAloud(settings, computed(() => 'Me'))
    readAloud({ kind: 'user', author: 'Ann', text: '<b>hello</b> there' })
    readAloud({ kind: 'user', author: 'Me', text: 'mine' })
    readAloud({ kind: 'bot', author: 'Me', text: 'a bot named like me' })
    readAloud({ kind: 'bot', author: 'Empty', text: '<img src=x>' })
    settings.speak = false
    readAloud({ kind: 'user', author: 'Ann', text: 'quiet' })
    expect(said).toEqual(['Ann says: hello there', 'Me says: a bot named like me'])
  })
})

describe('useMicrophone', () => {
  it('listens for one phrase at a time, and stops when unmounted', () => {
    const heard = []
    const recognitions = []
    vi.stubGlobal('SpeechRecognition', class {
      constructor() {
        recognitions.push(this)
      }
      start() {}
      abort() {
        this.aborted = true
        this.onend?.()
      }
    })
    const onEnd = vi.fn()
    const enabled = reactive({ on: false })
    const { result: mic, unmount } = withSetup(() =>
      useMicrophone({ enabled: () => enabled.on, onText: (t) => heard.push(t), onError: () => {}, onEnd }),
    )
    expect(mic.available.value).toBe(false)
    enabled.on = true
    expect(mic.available.value).toBe(true)
    mic.toggle()
    expect(mic.listening.value).toBe(true)
    recognitions[0].onresult({ results: [[{ transcript: ' hello ' }]] })
    recognitions[0].onend()
    expect(heard).toEqual(['hello'])
    expect(mic.listening.value).toBe(false)
    expect(onEnd).toHaveBeenCalledTimes(1)
    mic.toggle()
    mic.toggle()
    expect(recognitions[1].aborted).toBe(true)
    expect(mic.listening.value).toBe(false)
    mic.toggle()
    unmount()
    expect(recognitions[2].aborted).toBe(true)
  })
})
