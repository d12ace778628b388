// What one bot-call record says about itself, for the store, the log and
// the words shown alike: a started frame and a finished record differ only
// in whether an outcome is set.

export const isCall = (c) => c !== null && typeof c === 'object' && Number.isInteger(c.id)

/** A record whose call is over (a started frame or an in-flight record is not). */
export function isFinished(call) {
  return typeof call?.outcome === 'string' && call.outcome !== ''
}

/** A finished call that did not get a usable reply. */
export function isFailure(call) {
  return isFinished(call) && call.outcome !== 'ok'
}
