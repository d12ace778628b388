// The room as the websocket describes it (messages, bots, the last id) and
// the conversation it is in; the bot list is reconciled after a reconnect,
// since a replay cannot say which bots were deleted meanwhile.

import { reactive, computed, markRaw } from 'vue'
import {
  createRoomState,
  applyFrame as applyRoomFrame,
  currentConversation,
  beginBotResync,
  finishBotResync,
} from '../../lib/room-state.js'
import { api } from '../../lib/api.js'

export function useRoomState(necsus) {
  const state = reactive(createRoomState())
  const conversation = computed(() => currentConversation(state.messages))

  // Returns what the frame changed (see room-state.js), or null.
  function applyFrame(frame) {
    // Messages never change once stored: no need to make them deeply reactive.
    if (frame?.kind === 'message' && frame.data && typeof frame.data === 'object') markRaw(frame.data)
    const effect = applyRoomFrame(state, frame)
    if (effect?.kind === 'clear_messages') necsus.messagesCleared()
    return effect
  }

  async function resyncBots(room) {
    beginBotResync(state)
    try {
      finishBotResync(state, await api.listBots(room))
    } catch {
      finishBotResync(state, null)
    }
  }

  return { state, conversation, applyFrame, resyncBots }
}
