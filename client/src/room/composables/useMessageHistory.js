// The message box's recall of your last messages with ↑/↓; the list lives
// in localStorage (one for every room), so it outlasts the page.

import { createHistory, pushHistory, historyUp, historyDown } from '../../lib/history.js'
import { loadHistoryItems, saveHistoryItems } from '../../lib/settings.js'

/** `text`: the message box's ref. */
export function useMessageHistory(text, storage = globalThis.localStorage) {
  let history = createHistory(loadHistoryItems(storage))

  function remember(body) {
    history = pushHistory(history, body)
    saveHistoryItems(storage, history.items)
  }

  function onKeydown(event) {
    if (event.isComposing) return
    if (event.key === 'ArrowUp') {
      const r = historyUp(history, text.value)
      if (r.history !== history) event.preventDefault()
      history = r.history
      text.value = r.text
    } else if (event.key === 'ArrowDown') {
      const r = historyDown(history, text.value)
      if (r.history !== history) event.preventDefault()
      history = r.history
      text.value = r.text
    }
  }

  return { remember, onKeydown }
}
