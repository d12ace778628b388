// window.Necsus, the API that bots' scripts use:
//   Necsus.addEventListener('message', fn): fn(element, message) for every
//     message already shown and every later one, once each, once it is in
//     the page;
//   Necsus.removeEventListener('message', fn);
//   Necsus.focusMessageInput(text?): focuses the message box, optionally
//     filling it.

export function createNecsusApi({ onListenerError = (e) => console.error(e) } = {}) {
  const listeners = []
  let shown = []
  let focusInput = () => {}

  function call(fn, entry) {
    try {
      fn(entry.element, entry.message)
    } catch (e) {
      onListenerError(e)
    }
  }

  const api = {
    addEventListener(type, fn) {
      if (type !== 'message' || typeof fn !== 'function' || listeners.includes(fn)) return
      listeners.push(fn)
      for (const entry of [...shown]) call(fn, entry)
    },
    removeEventListener(type, fn) {
      const i = listeners.indexOf(fn)
      if (type === 'message' && i >= 0) listeners.splice(i, 1)
    },
    focusMessageInput(text) {
      focusInput(text)
    },
  }

  return {
    api,
    /** The client calls this once a message's element is in the page. */
    messageShown(element, message) {
      if (shown.some((e) => e.message.id === message.id)) return
      const entry = { element, message }
      shown.push(entry)
      for (const fn of [...listeners]) call(fn, entry)
    },
    /** Messages were cleared from the page. */
    messagesCleared() {
      shown = []
    },
    setFocusHandler(fn) {
      focusInput = fn
    },
  }
}
