// Speech, where the browser has it: reading new messages aloud (as the
// settings say) and dictating into the message box. Only what the page
// needs of lib/speech.js, with Vue state around it.

import { ref, computed, onBeforeUnmount } from 'vue'
import { stripHtml } from '../../lib/html.js'
import { speak, canListen, listenOnce } from '../../lib/speech.js'

/** Returns readAloud(message): text only, and not your own messages. */
export function useReadAloud(settings, myName) {
  return function readAloud(message) {
    if (!settings.speak) return
    if (message.kind === 'user' && message.author === myName.value) return
    const text = stripHtml(document, message.text)
    if (text) speak(`${message.author} says: ${text}`)
  }
}

/**
 * One phrase at a time into the message box. `enabled()`: the setting;
 * onText(heard), onError(message), onEnd() as for listenOnce.
 */
export function useMicrophone({ enabled, onText, onError, onEnd }) {
  const listening = ref(false)
  const available = computed(() => enabled() && canListen(window))
  let stop = null

  function toggle() {
    if (listening.value) {
      stop?.()
      return
    }
    listening.value = true
    stop = listenOnce(
      {
        onText,
        onError,
        onEnd: () => {
          listening.value = false
          stop = null
          onEnd()
        },
      },
      window,
    )
  }

  onBeforeUnmount(() => stop?.())
  return { available, listening, toggle }
}
