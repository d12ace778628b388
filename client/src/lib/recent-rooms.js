// Rooms this browser visited, newest first, for the lobby.

const KEY = 'necsus.recentRooms'
export const RECENT_LIMIT = 8

export function rememberRoom(list, room) {
  return [room, ...list.filter((r) => r !== room)].slice(0, RECENT_LIMIT)
}

export function loadRecentRooms(storage) {
  try {
    const list = JSON.parse(storage?.getItem(KEY) ?? '[]')
    return Array.isArray(list) ? list.filter((r) => typeof r === 'string' && r !== '') : []
  } catch {
    return []
  }
}

export function saveRecentRooms(storage, list) {
  try {
    storage?.setItem(KEY, JSON.stringify(list))
  } catch {
    /* ignore */
  }
}
