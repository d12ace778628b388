// The room's websocket for the page: connecting (resuming with `since` = the
// last id seen), the status shown in the header, retrying at once when the
// browser comes back online, and telling the history replayed on connect
// from live frames.

import { ref, onMounted, onBeforeUnmount } from 'vue'
import { RoomSocket } from '../../lib/socket.js'
import { socketUrl } from '../../lib/urls.js'
import { parseFrame } from '../../lib/room-state.js'
import { isLiveOnlyFrame } from '../../lib/bot-call-resync.js'

// The server replays the room's history in one burst as a socket opens; the
// burst is over once frames pause this long.
export const REPLAY_QUIET_MS = 300

/**
 * options:
 *   room, lastId()             where to connect and resume
 *   onOpen(reconnected)        each time a socket opens
 *   onFrame(frame, replaying)  each frame, parsed (null if malformed)
 *   onReplayEnd(first)         when the burst after an open is over
 */
export function useRoomSocket({ room, lastId, onOpen, onFrame, onReplayEnd }) {
  const connection = ref({ state: 'connecting', attempt: 0 })
  let replaying = false
  let replayTimer = null
  let firstReplayDone = false
  let opened = false

  function replayContinues() {
    clearTimeout(replayTimer)
    replayTimer = setTimeout(replayEnded, REPLAY_QUIET_MS)
  }
  function replayEnded() {
    replaying = false
    const first = !firstReplayDone
    firstReplayDone = true
    onReplayEnd(first)
  }

  function frameArrived(text) {
    const frame = parseFrame(text)
    // Live-only frames (bot_turn_queue) are never part of the burst.
    if (replaying && !isLiveOnlyFrame(frame)) replayContinues()
    onFrame(frame, replaying)
  }

  function socketOpened() {
    replaying = true
    replayContinues()
    const reconnected = opened
    opened = true
    onOpen(reconnected)
  }

  const socket = new RoomSocket({
    url: () => socketUrl(window.location, room, lastId()),
    onFrame: frameArrived,
    onStatus: (s) => {
      connection.value = s
      if (s.state === 'open') socketOpened()
    },
  })

  const goOnline = () => socket.retryNow()
  onMounted(() => {
    socket.start()
    window.addEventListener('online', goOnline)
  })
  onBeforeUnmount(() => {
    socket.stop()
    clearTimeout(replayTimer)
    window.removeEventListener('online', goOnline)
  })

  return { connection }
}
