// The room as the websocket stream describes it: messages in id order, the
// room's bots, and the last message id seen (where a reconnect resumes).
// applyFrame is the only way the stream changes it.

export function createRoomState() {
  return { messages: [], bots: [], lastId: -1, staleBotIds: null }
}

function isMessage(m) {
  return m && typeof m === 'object' && Number.isInteger(m.id)
}

function isBot(b) {
  return b && typeof b === 'object' && Number.isInteger(b.id)
}

/**
 * Applies one websocket frame `{kind, data}` to `state` (mutating it) and
 * says what happened: {kind, message?} for a change, or null when the frame
 * changed nothing (a duplicate, a malformed frame, or an unknown kind).
 */
export function applyFrame(state, frame) {
  if (!frame || typeof frame !== 'object') return null
  const { kind, data } = frame
  switch (kind) {
    case 'message': {
      if (!isMessage(data) || data.id <= state.lastId) return null
      state.lastId = data.id
      state.messages.push(data)
      return { kind, message: data }
    }
    case 'put_bot': {
      if (!isBot(data)) return null
      state.staleBotIds?.delete(data.id)
      const i = state.bots.findIndex((b) => b.id === data.id)
      if (i >= 0) {
        state.bots.splice(i, 1, data)
      } else {
        const at = state.bots.findIndex((b) => b.id > data.id)
        state.bots.splice(at < 0 ? state.bots.length : at, 0, data)
      }
      return { kind }
    }
    case 'delete_bot': {
      if (!isBot(data)) return null
      const i = state.bots.findIndex((b) => b.id === data.id)
      if (i < 0) return null
      state.bots.splice(i, 1)
      return { kind }
    }
    case 'clear_messages': {
      state.messages.splice(0, state.messages.length)
      return { kind }
    }
    default:
      return null
  }
}

/**
 * A reconnect replays a put_bot for every bot still in the room, but says
 * nothing of bots deleted while the socket was down. Call this when a
 * reconnection opens: every bot known now is suspect until the replay or a
 * fresh listing shows it again.
 */
export function beginBotResync(state) {
  state.staleBotIds = new Set(state.bots.map((b) => b.id))
}

/**
 * Ends the resync with `listed`, the room's bots fetched after the socket
 * opened: suspect bots that neither the replay nor the listing showed were
 * deleted meanwhile. Returns how many were dropped.
 */
export function finishBotResync(state, listed) {
  const stale = state.staleBotIds
  state.staleBotIds = null
  if (!stale || !Array.isArray(listed)) return 0
  const alive = new Set(listed.map((b) => b.id))
  const before = state.bots.length
  const keep = state.bots.filter((b) => !stale.has(b.id) || alive.has(b.id))
  state.bots.splice(0, state.bots.length, ...keep)
  return before - keep.length
}

/** Parses a frame's text; null if it is not a JSON object. */
export function parseFrame(text) {
  try {
    const frame = JSON.parse(text)
    return frame && typeof frame === 'object' && !Array.isArray(frame) ? frame : null
  } catch {
    return null
  }
}

/**
 * The stateful conversation the room is in, if any: the newest message
 * decides, and a non-null state (even "", 0 or false) means one is going on.
 */
export function currentConversation(messages) {
  const last = messages[messages.length - 1]
  if (!last || last.state === null || last.state === undefined) return null
  return { author: last.author, botId: last.from_bot ?? null, state: last.state }
}
