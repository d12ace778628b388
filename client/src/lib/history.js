// The message input's history: up/down arrows walk the last sent messages,
// like a shell. All functions are pure: they take and return plain objects.

export const HISTORY_LIMIT = 20

/**
 * A history: `items` oldest first; `index` is the position being shown
 * (items.length means "not browsing", the draft); `draft` is what was typed
 * before browsing started, given back when walking past the newest.
 */
export function createHistory(items = []) {
  const kept = items.filter((s) => typeof s === 'string' && s !== '').slice(-HISTORY_LIMIT)
  return { items: kept, index: kept.length, draft: '' }
}

/** Records a sent message (not repeating the previous one) and stops browsing. */
export function pushHistory(history, text) {
  let items = history.items
  if (text !== '' && items[items.length - 1] !== text) {
    items = [...items, text].slice(-HISTORY_LIMIT)
  }
  return { items, index: items.length, draft: '' }
}

/** Up arrow: the previous entry. `current` is the input's text now. */
export function historyUp(history, current) {
  if (history.index === 0 || history.items.length === 0) {
    return { history, text: current }
  }
  const draft = history.index === history.items.length ? current : history.draft
  const index = history.index - 1
  return { history: { ...history, index, draft }, text: history.items[index] }
}

/** Down arrow: the next entry, or the draft after the newest. */
export function historyDown(history, current) {
  if (history.index >= history.items.length) {
    return { history, text: current }
  }
  const index = history.index + 1
  const text = index === history.items.length ? history.draft : history.items[index]
  return { history: { ...history, index }, text }
}
