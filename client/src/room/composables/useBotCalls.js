// The room's bot calls for the page: the store kept live from the websocket,
// the room's list fetched only when needed (the log opens, the history has a
// system message that may be about a bot, catching up after a reconnect),
// a call's body fetched when it is shown, and opening the log at a call.

import { reactive, computed } from 'vue'
import { api } from '../../lib/api.js'
import { createCallStore, applyCallFrame, mergeCalls, catchUpSince, callsByMessage } from '../../lib/bot-call-store.js'
import { resetTurnQueues } from '../../lib/turn-queues.js'
import { beginInflightResync, endsAnnouncement, finishInflightResync } from '../../lib/bot-call-resync.js'

/** `show(id)`: bring the bot log up at that call. */
export function useBotCalls(room, { show }) {
  const store = reactive(createCallStore())
  const status = reactive({ loading: false, error: '' })
  const byMessage = computed(() => callsByMessage(store.calls))
  let loading = null

  // One fetch at a time: the log opening during a catch-up shares it.
  function load() {
    if (loading) return loading
    const since = store.loaded ? catchUpSince(store.calls) : null
    status.loading = true
    loading = (async () => {
      try {
        const list = await api.listBotCalls(room, { since })
        mergeCalls(store.calls, Array.isArray(list) ? list : [])
        store.loaded = true
        status.error = ''
      } catch (e) {
        status.error = e.status === 404 ? 'This NeCSuS server does not record bot calls.' : e.message
      } finally {
        status.loading = false
        loading = null
      }
    })()
    return loading
  }

  // Websocket frames carry no response bodies: fetch a call's full record.
  async function fetchBody(call) {
    const list = await api.listBotCalls(room, {
      botId: Number.isInteger(call.bot_id) ? call.bot_id : null,
      since: call.id - 1,
    })
    mergeCalls(store.calls, Array.isArray(list) ? list : [])
  }

  const merge = (record) => mergeCalls(store.calls, [record])

  function openCall(id) {
    show(id)
    if (!store.loaded) load()
  }

  function onOpen(reconnected) {
    // Messages waiting for a bot are not announced again: none until told.
    resetTurnQueues(store)
    if (!reconnected) return
    // Calls in flight are re-announced; catch up on the rest.
    beginInflightResync(store)
    if (store.loaded || store.calls.length > 0) load()
  }

  /** Takes the frame if it is about bot calls (returns true). */
  function onFrame(frame, replaying) {
    // After a reconnect, calls in flight not announced again are over.
    if (store.staleInflight && endsAnnouncement(frame)) finishInflightResync(store)
    return applyCallFrame(store, frame, Date.now(), replaying)
  }

  function onReplayEnd(first, messages) {
    finishInflightResync(store)
    // System messages may be about failed bot calls: link them to the log.
    if (first && !store.loaded && messages.some((m) => m.kind === 'system')) load()
  }

  return { store, status, byMessage, load, fetchBody, merge, openCall, onOpen, onFrame, onReplayEnd }
}
