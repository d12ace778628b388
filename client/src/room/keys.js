// Injection keys shared by the room page's components.
export const NECSUS = Symbol('necsus')
export const ROOM = Symbol('room')
export const SETTINGS = Symbol('settings')
// The room's bot calls: {store, byMessage, status, load, fetchBody, merge, openCall}
export const CALLS = Symbol('calls')
