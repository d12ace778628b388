// Calls in flight across a reconnect: the server announces the calls still
// in flight as a socket opens, but never says which ended while it was
// down, so what is not announced again must be forgotten.

/**
 * Frames the server never sends as part of what it replays on connect
 * (bot_turn_queue): they neither continue the replay burst nor tell that
 * the announcement of calls in flight is over.
 */
export function isLiveOnlyFrame(frame) {
  return frame?.kind === 'bot_turn_queue'
}

/**
 * A reconnect re-announces the calls still in flight: until it is over,
 * every call thought to be in flight is suspect.
 */
export function beginInflightResync(store) {
  store.staleInflight = new Set(Object.keys(store.inflight).map(Number))
}

/**
 * On connect the server sends clear_messages (maybe), a put_bot per bot,
 * then a bot_call_started per call in flight, then messages: any other frame
 * means the announcement is over (but a live-only frame says nothing either
 * way).
 */
export function endsAnnouncement(frame) {
  const kind = frame?.kind
  return kind !== 'put_bot' && kind !== 'bot_call_started' && kind !== 'clear_messages' && !isLiveOnlyFrame(frame)
}

/** Ends the resync: calls not re-announced have finished meanwhile. */
export function finishInflightResync(store) {
  const stale = store.staleInflight
  store.staleInflight = null
  if (!stale) return 0
  for (const id of stale) delete store.inflight[id]
  return stale.size
}
