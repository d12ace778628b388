// URL helpers: room paths, the websocket address, and resolving the relative
// URLs in a bot's message against the bot's own URL (its `base_url`).

/** Attributes that hold a URL a bot may give relative to its own address. */
export const URL_ATTRIBUTES = [
  ['img', 'src'],
  ['embed', 'src'],
  ['object', 'data'],
  ['link', 'href'],
  ['script', 'src'],
  ['audio', 'src'],
  ['video', 'src'],
  ['source', 'src'],
  ['track', 'src'],
]

/**
 * Resolves `url` against `base` with the browser's URL-join rules. Returns
 * `url` unchanged when there is no usable base, when `url` is empty, or when
 * the join fails (a broken URL is better shown as written than dropped).
 */
export function resolveUrl(url, base) {
  if (url == null) return url
  const trimmed = String(url).trim()
  if (trimmed === '' || !base) return url
  try {
    const baseUrl = new URL(base)
    if (baseUrl.protocol !== 'http:' && baseUrl.protocol !== 'https:') return url
    return new URL(trimmed, baseUrl).href
  } catch {
    return url
  }
}

/**
 * Rewrites, in place, every URL attribute of URL_ATTRIBUTES under `root`
 * (a DocumentFragment or Element) to be absolute against `base`.
 */
export function rewriteRelativeUrls(root, base) {
  if (!base) return
  for (const [tag, attr] of URL_ATTRIBUTES) {
    for (const el of root.querySelectorAll(`${tag}[${attr}]`)) {
      const value = el.getAttribute(attr)
      const resolved = resolveUrl(value, base)
      if (resolved !== value) el.setAttribute(attr, resolved)
    }
  }
}

/** Path segments a browser normalises away, and the server's own prefixes. */
const RESERVED = new Set(['api', 'ws', 'docs', 'assets', 'healthz', 'metrics'])

/**
 * Why `name` cannot be a room reachable from the lobby, or null if it can.
 * Names are case-sensitive, so only the exact reserved words are refused.
 */
export function roomNameProblem(name) {
  if (typeof name !== 'string' || name.trim() === '') return 'Type a room name first.'
  if (name === '.' || name === '..') return 'A room cannot be called "." or "..".'
  if (RESERVED.has(name)) return `"${name}" is used by the server itself: pick another name.`
  if ([...name].length > 256) return 'Room names are at most 256 characters.'
  return null
}

/** The page path of a room: one percent-encoded segment (so `/` is %2F). */
export function roomPath(name) {
  return '/' + encodeURIComponent(name)
}

/** The room name of a room page's path; null for the lobby or a bad path. */
export function roomFromPath(pathname) {
  const raw = pathname.startsWith('/') ? pathname.slice(1) : pathname
  if (raw === '') return null
  try {
    return decodeURIComponent(raw)
  } catch {
    return raw
  }
}

/** The websocket address of a room's stream, resuming after `since`. */
export function socketUrl(loc, room, since) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${scheme}//${loc.host}/ws/${encodeURIComponent(room)}?since=${since}`
}

/** Whether a `media` URL is better played by a <video> than an <audio>. */
export function mediaKind(url) {
  if (!url) return 'audio'
  let path = String(url)
  try {
    path = new URL(path, 'http://x/').pathname
  } catch {
    /* keep as is */
  }
  return /\.(mp4|m4v|webm|ogv|mov|mkv)$/i.test(path) ? 'video' : 'audio'
}
