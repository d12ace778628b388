// Which side panel is open (bots, settings, the bot log, or none) and the
// call the log should show; closing a panel gives focus back to its button
// in the header, so keyboard users are not dropped at the top of the page.

import { ref } from 'vue'

/** `header`: the RoomHeader component's ref (for focusToggle). */
export function usePanels(header) {
  const panel = ref(null) // 'bots' | 'settings' | 'log' | null
  const focusCall = ref(null) // {id, n}: n tells a second link to the same call from the first
  let focusCount = 0

  function showCall(id) {
    focusCount += 1
    focusCall.value = { id, n: focusCount }
    panel.value = 'log'
  }
  function toggle(which) {
    focusCall.value = null
    panel.value = panel.value === which ? null : which
  }
  function close() {
    const which = panel.value
    panel.value = null
    if (which) header.value?.focusToggle(which)
  }

  return { panel, focusCall, showCall, toggle, close }
}
