// Links to #bot-call-ID (on load, or followed later) open the bot log at
// that call: a system message or a test result can point anyone there.

import { onMounted, onBeforeUnmount } from 'vue'
import { callIdFromHash } from '../../lib/bot-log.js'

export function useLinkedCall(openCall) {
  function openLinkedCall() {
    const id = callIdFromHash(window.location.hash)
    if (id !== null) openCall(id)
  }
  onMounted(() => {
    window.addEventListener('hashchange', openLinkedCall)
    openLinkedCall()
  })
  onBeforeUnmount(() => window.removeEventListener('hashchange', openLinkedCall))
}
