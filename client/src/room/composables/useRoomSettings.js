// The reader's settings for the room page, kept in localStorage, and what
// they change outside the components (lecture mode's title and font size);
// also the room remembered for the lobby's recent rooms.

import { reactive, computed, watch, onMounted } from 'vue'
import { loadSettings, saveSettings, displayName } from '../../lib/settings.js'
import { loadRecentRooms, rememberRoom, saveRecentRooms } from '../../lib/recent-rooms.js'

export function useRoomSettings(room, storage = globalThis.localStorage) {
  const settings = reactive(loadSettings(storage))
  const myName = computed(() => displayName(settings))

  watch(settings, () => saveSettings(storage, { ...settings }), { deep: true })
  // Lecture mode is for projecting: the room's name stays off the screen.
  watch(
    () => settings.lecture,
    (lecture) => {
      document.title = lecture ? 'NeCSuS' : `${room} · NeCSuS`
      document.documentElement.classList.toggle('lecture', lecture)
    },
    { immediate: true },
  )

  onMounted(() => saveRecentRooms(storage, rememberRoom(loadRecentRooms(storage), room)))

  return { settings, myName }
}
