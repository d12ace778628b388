// Speech synthesis of incoming messages and speech input for the message
// box, where the browser has them.

export function canSpeak(win = globalThis) {
  return typeof win.speechSynthesis !== 'undefined' && typeof win.SpeechSynthesisUtterance === 'function'
}

export function speak(text, win = globalThis) {
  if (!canSpeak(win) || !text) return
  win.speechSynthesis.speak(new win.SpeechSynthesisUtterance(text))
}

function recognitionClass(win) {
  return win.SpeechRecognition || win.webkitSpeechRecognition || null
}

export function canListen(win = globalThis) {
  return recognitionClass(win) !== null
}

/**
 * Listens for one phrase. Calls onText(transcript) for what was heard and
 * onEnd() when listening stops; returns a function that stops it.
 */
export function listenOnce({ onText, onEnd, onError, lang }, win = globalThis) {
  const Recognition = recognitionClass(win)
  if (!Recognition) {
    onError?.('Speech input is not supported by this browser.')
    onEnd?.()
    return () => {}
  }
  const recognition = new Recognition()
  recognition.lang = lang || win.navigator?.language || 'en-AU'
  recognition.interimResults = false
  recognition.maxAlternatives = 1
  recognition.onresult = (event) => {
    const transcript = Array.from(event.results)
      .map((r) => r[0]?.transcript ?? '')
      .join(' ')
      .trim()
    if (transcript) onText(transcript)
  }
  recognition.onerror = (event) => onError?.(`Speech input failed: ${event.error ?? 'unknown error'}`)
  recognition.onend = () => onEnd?.()
  try {
    recognition.start()
  } catch (e) {
    onError?.(String(e?.message ?? e))
    onEnd?.()
  }
  return () => recognition.abort()
}
