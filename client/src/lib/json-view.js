// Showing JSON to people: pretty-printing that keeps the original text of
// every number and string (a bot's 12345678901234567890 stays exactly that),
// and syntax highlighting as HTML in which everything is escaped.

/** `s` with the characters that mean something in HTML escaped. */
export function escapeHtml(s) {
  return String(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
}

// One JSON token: a string, a number, a literal, punctuation, or whitespace.
const TOKEN =
  /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null|[{}[\]:,]|[ \t\n\r]+/y

/**
 * The tokens of a valid JSON text, whitespace left out, or null when `text`
 * is not JSON. Each token is {type, text}; type is one of 'string', 'key'
 * (a string before a colon), 'number', 'literal' (true, false, null) and
 * 'punct'.
 */
export function tokenizeJson(text) {
  if (typeof text !== 'string') return null
  try {
    JSON.parse(text)
  } catch {
    return null
  }
  const tokens = []
  TOKEN.lastIndex = 0
  while (TOKEN.lastIndex < text.length) {
    const start = TOKEN.lastIndex
    const match = TOKEN.exec(text)
    if (!match || match.index !== start) return null // cannot happen for valid JSON
    const t = match[0]
    const c = t[0]
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') continue
    if (c === '"') tokens.push({ type: 'string', text: t })
    else if (c === '-' || (c >= '0' && c <= '9')) tokens.push({ type: 'number', text: t })
    else if (c === 't' || c === 'f' || c === 'n') tokens.push({ type: 'literal', text: t })
    else {
      if (t === ':' && tokens.length > 0 && tokens[tokens.length - 1].type === 'string') {
        tokens[tokens.length - 1].type = 'key'
      }
      tokens.push({ type: 'punct', text: t })
    }
  }
  return tokens
}

/**
 * Lays tokens out like JSON.stringify(value, null, indent) would, calling
 * `emit(text, type)` for each piece (type null for whitespace). Empty
 * objects and arrays stay on one line.
 */
function layout(tokens, emit, indent) {
  let depth = 0
  const newline = () => emit('\n' + ' '.repeat(indent * depth), null)
  for (let i = 0; i < tokens.length; i += 1) {
    const { type, text } = tokens[i]
    if (type !== 'punct') {
      emit(text, type)
      continue
    }
    if (text === '{' || text === '[') {
      const next = tokens[i + 1]
      if (next && next.type === 'punct' && (next.text === '}' || next.text === ']')) {
        emit(text + next.text, 'punct')
        i += 1
        continue
      }
      emit(text, 'punct')
      depth += 1
      newline()
    } else if (text === '}' || text === ']') {
      depth -= 1
      newline()
      emit(text, 'punct')
    } else if (text === ',') {
      emit(',', 'punct')
      newline()
    } else {
      emit(':', 'punct')
      emit(' ', null)
    }
  }
}

/** The JSON text `text` pretty-printed, or null when it is not JSON. */
export function prettyJsonText(text, indent = 2) {
  const tokens = tokenizeJson(text)
  if (!tokens) return null
  let out = ''
  layout(tokens, (piece) => (out += piece), indent)
  return out
}

/**
 * The JSON text `text`, pretty-printed, as HTML with a <span class="j-…">
 * around each token (j-key, j-string, j-number, j-literal, j-punct), or null
 * when it is not JSON. Everything in it is escaped.
 */
export function highlightJson(text, indent = 2) {
  const tokens = tokenizeJson(text)
  if (!tokens) return null
  let out = ''
  layout(
    tokens,
    (piece, type) => {
      out += type ? `<span class="j-${type}">${escapeHtml(piece)}</span>` : piece
    },
    indent,
  )
  return out
}

/**
 * How to show a body (or any text) that may be JSON: {json: true, text (the
 * pretty-printed JSON), html (highlighted)} when it parses, else {json:
 * false, text} as it came. Null and undefined show as empty text.
 */
export function viewBody(body) {
  const text = body === null || body === undefined ? '' : String(body)
  const trimmed = text.trim()
  if (trimmed) {
    const html = highlightJson(trimmed)
    if (html !== null) return { json: true, text: prettyJsonText(trimmed), html }
  }
  return { json: false, text }
}

/** How to show a value that is already parsed JSON (a recorded request). */
export function viewValue(value) {
  if (value === undefined) return { json: false, text: '' }
  return viewBody(JSON.stringify(value))
}
