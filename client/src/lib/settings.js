// Settings kept in localStorage, shared by every room of this browser.

export const DEFAULT_SETTINGS = Object.freeze({
  name: 'Anonymous',
  speak: false,
  speechInput: false,
  lecture: false,
})

const KEY = 'necsus.settings'

export function loadSettings(storage) {
  try {
    const saved = JSON.parse(storage?.getItem(KEY) ?? 'null')
    if (!saved || typeof saved !== 'object') return { ...DEFAULT_SETTINGS }
    const result = { ...DEFAULT_SETTINGS }
    for (const [key, fallback] of Object.entries(DEFAULT_SETTINGS)) {
      if (typeof saved[key] === typeof fallback) result[key] = saved[key]
    }
    return result
  } catch {
    return { ...DEFAULT_SETTINGS }
  }
}

export function saveSettings(storage, settings) {
  try {
    storage?.setItem(KEY, JSON.stringify(settings))
  } catch {
    /* private mode or full: settings last for this page only */
  }
}

/** The name messages are sent under: the setting, or "Anonymous" if blank. */
export function displayName(settings) {
  const name = (settings.name ?? '').trim()
  return name === '' ? DEFAULT_SETTINGS.name : name
}

const HISTORY_KEY = 'necsus.history'

export function loadHistoryItems(storage) {
  try {
    const items = JSON.parse(storage?.getItem(HISTORY_KEY) ?? '[]')
    return Array.isArray(items) ? items : []
  } catch {
    return []
  }
}

export function saveHistoryItems(storage, items) {
  try {
    storage?.setItem(HISTORY_KEY, JSON.stringify(items))
  } catch {
    /* ignore */
  }
}
