// A `now` (ms) that ticks every `everyMs`, so that times shown ("2 min ago",
// "… 5 s") move on; with `running`, only while it says so, to keep an idle
// page from waking up for nothing.

import { ref, watch, onBeforeUnmount } from 'vue'

export function useClock(everyMs, running = () => true) {
  const now = ref(Date.now())
  let timer = null
  watch(
    running,
    (on) => {
      clearInterval(timer)
      timer = on ? setInterval(() => (now.value = Date.now()), everyMs) : null
      now.value = Date.now()
    },
    { immediate: true },
  )
  onBeforeUnmount(() => clearInterval(timer))
  return now
}
