import { describe, it, expect } from 'vitest'
import { oneAtATime } from '../src/lib/one-at-a-time.js'

/** A promise with its resolve and reject at hand. */
function deferred() {
  let resolve, reject
  const promise = new Promise((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

const tick = () => new Promise((r) => setTimeout(r, 0))

describe('oneAtATime', () => {
  it('starts a call only once the one before has settled, in call order', async () => {
    const started = []
    const gates = [deferred(), deferred(), deferred()]
    const run = oneAtATime(async (i) => {
      started.push(i)
      await gates[i].promise
      return i * 10
    })
    const results = [run(0), run(1), run(2)]
    await tick()
    expect(started).toEqual([0])
    gates[0].resolve()
    await tick()
    expect(started).toEqual([0, 1])
    gates[1].resolve()
    gates[2].resolve()
    expect(await Promise.all(results)).toEqual([0, 10, 20])
    expect(started).toEqual([0, 1, 2])
  })

  it('goes on after a failure, which reaches only its own caller', async () => {
    const gate = deferred()
    const run = oneAtATime(async (fail) => {
      await gate.promise
      if (fail) throw new Error('refused')
      return 'ok'
    })
    const first = run(true)
    const second = run(false)
    gate.resolve()
    await expect(first).rejects.toThrow('refused')
    await expect(second).resolves.toBe('ok')
  })

  it('reads its inputs when it runs, not when it was called', async () => {
    const gate = deferred()
    const draft = { name: 'Platypus' }
    const sent = []
    const save = oneAtATime(async () => {
      sent.push(draft.name)
      await gate.promise
    })
    const first = save()
    await tick() // the first call is under way, waiting on the server
    draft.name = 'EchoBot'
    const second = save()
    gate.resolve()
    await Promise.all([first, second])
    expect(sent).toEqual(['Platypus', 'EchoBot'])
  })
})
