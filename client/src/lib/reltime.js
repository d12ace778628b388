// Relative times for message headers ("just now", "3 minutes ago").

const MINUTE = 60
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

function plural(n, unit) {
  return `${n} ${unit}${n === 1 ? '' : 's'} ago`
}

/**
 * How long before `nowMs` (milliseconds) the moment `whenSeconds` (seconds
 * since the epoch, as the server sends) was, in words. Moments slightly in
 * the future (clock skew between server and browser) count as "just now".
 */
export function relativeTime(whenSeconds, nowMs) {
  if (typeof whenSeconds !== 'number' || !Number.isFinite(whenSeconds)) return ''
  const seconds = Math.floor(nowMs / 1000 - whenSeconds)
  if (seconds < 45) return 'just now'
  if (seconds < 90) return '1 minute ago'
  if (seconds < HOUR) return plural(Math.round(seconds / MINUTE), 'minute')
  if (seconds < DAY) return plural(Math.floor(seconds / HOUR), 'hour')
  if (seconds < 2 * DAY) return 'yesterday'
  if (seconds < 30 * DAY) return plural(Math.floor(seconds / DAY), 'day')
  const date = new Date(whenSeconds * 1000)
  return `on ${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}-${String(date.getDate()).padStart(2, '0')}`
}

/** The full local date and time of `whenSeconds`, for a tooltip. */
export function absoluteTime(whenSeconds) {
  if (typeof whenSeconds !== 'number' || !Number.isFinite(whenSeconds)) return ''
  return new Date(whenSeconds * 1000).toLocaleString()
}

/** How often the relative times need refreshing, given the newest age. */
export const REFRESH_MS = 15_000
