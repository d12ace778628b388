// Injection keys shared by the room page's components.
export const NECSUS = Symbol('necsus')
export const ROOM = Symbol('room')
export const SETTINGS = Symbol('settings')
