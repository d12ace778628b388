// The bot log's filter by bot, and links into the log (#bot-call-ID).

/** Which bot a call went to, as a filter key. */
export function callBotKey(call) {
  return Number.isInteger(call.bot_id) ? `bot:${call.bot_id}` : `url:${call.url ?? ''}`
}

/** Bots to filter the log by: {key, label}, from the room's bots and the calls. */
export function botFilterOptions(bots, calls) {
  const options = new Map()
  for (const b of bots ?? []) options.set(`bot:${b.id}`, b.name || `Bot ${b.id}`)
  for (const c of calls ?? []) {
    const key = callBotKey(c)
    if (!options.has(key)) options.set(key, c.bot_name || c.url || key)
  }
  return [...options].map(([key, label]) => ({ key, label })).sort((a, b) => a.label.localeCompare(b.label))
}

/** The call id in a location hash like "#bot-call-12", or null. */
export function callIdFromHash(hash) {
  const m = /^#bot-call-(\d+)$/.exec(hash ?? '')
  return m ? Number(m[1]) : null
}
