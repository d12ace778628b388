// Reconnection delays: exponential backoff, capped, with jitter so that a
// room full of browsers does not reconnect in lockstep after a restart.

export const BACKOFF = { baseMs: 500, capMs: 15_000 }

/**
 * The delay before reconnection attempt `attempt` (0 for the first retry):
 * a random duration between half and all of min(cap, base * 2^attempt).
 * `random` returns a number in [0, 1), like Math.random.
 */
export function backoffDelay(attempt, random = Math.random, { baseMs, capMs } = BACKOFF) {
  const n = Math.max(0, Math.floor(attempt))
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(n, 30))
  return Math.round(ceiling / 2 + random() * (ceiling / 2))
}
