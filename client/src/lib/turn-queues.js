// Messages waiting for a bot (bot_turn_queue frames), kept in the call
// store's `queues`: in a conversation a message posted while the bot still
// answers an earlier one waits its turn, and "… is thinking" says so.

/** Which bot a bot_turn_queue frame is about, as a key of `store.queues`. */
function queueKey(botId, botName) {
  return botId !== null ? `bot:${botId}` : `name:${botName}`
}

/**
 * Applies a bot_turn_queue frame: `waiting` messages wait behind the call in
 * flight to a bot in a conversation (0: none any more). Returns false for
 * anything else, or a frame that names no bot or no count.
 */
export function applyTurnQueueFrame(store, frame, receivedMs) {
  const data = frame?.data
  if (frame?.kind !== 'bot_turn_queue' || data === null || typeof data !== 'object') return false
  const { waiting } = data
  if (!Number.isInteger(waiting) || waiting < 0) return false
  const botId = Number.isInteger(data.bot_id) ? data.bot_id : null
  const botName = typeof data.bot_name === 'string' && data.bot_name ? data.bot_name : null
  if (botId === null && botName === null) return false
  const key = queueKey(botId, botName)
  const known = store.queues[key]
  if (waiting === 0) {
    delete store.queues[key]
  } else {
    store.queues[key] = {
      key,
      botId,
      botName: botName ?? known?.botName ?? `Bot ${botId}`,
      waiting,
      since: known ? known.since : receivedMs,
    }
  }
  return true
}

/**
 * The server does not repeat bot_turn_queue frames to a new connection:
 * on every (re)connect, no message is known to be waiting.
 */
export function resetTurnQueues(store) {
  for (const key of Object.keys(store.queues)) delete store.queues[key]
}
