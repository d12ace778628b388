/**
 * Wraps an async function so that its calls run one after another, in the
 * order they were made: each starts once the one before has settled
 * (resolved or failed). A bot row saves through it, so that two quick
 * edits (the URL, then the name) reach the server in the order they were
 * made. Sent at once, they could be stored in the other order (two
 * connections, or two instances behind a proxy), and the earlier request,
 * which still carried the old name, would undo the later one.
 *
 * @template {unknown[]} A, R
 * @param {(...args: A) => Promise<R>} fn
 * @returns {(...args: A) => Promise<R>}
 */
export function oneAtATime(fn) {
  let last = Promise.resolve()
  return (...args) => {
    const run = last.then(() => fn(...args))
    last = run.catch(() => {})
    return run
  }
}
