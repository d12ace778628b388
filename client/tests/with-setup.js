// Runs a composable inside a mounted component (for its lifecycle hooks);
// `unmount()` ends it.
import { createApp, h } from 'vue'

export function withSetup(composable) {
  let result
  const app = createApp({
    setup() {
      result = composable()
      return () => h('div')
    },
  })
  const el = document.createElement('div')
  document.body.append(el)
  app.mount(el)
  return { result, unmount: () => app.unmount() }
}
