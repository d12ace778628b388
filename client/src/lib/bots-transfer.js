// Exporting a room's bots as JSON and importing them into a room: parsing
// what was pasted or uploaded, and working out what an import would change.

/** The fields that make a bot, whatever room it lives in. */
function portable(bot) {
  return {
    name: bot.name,
    responds_to: bot.responds_to ?? '',
    url: bot.url ?? '',
  }
}

/** The export file's text: a JSON array of {name, responds_to, url}. */
export function exportBots(bots) {
  const sorted = [...bots].sort((a, b) => (a.id ?? 0) - (b.id ?? 0))
  return JSON.stringify(sorted.map(portable), null, 2) + '\n'
}

/** A file name for the export of `room`'s bots. */
export function exportFileName(room) {
  const safe = room.replace(/[^\p{L}\p{N}_-]+/gu, '-').replace(/^-+|-+$/g, '')
  return `necsus-bots-${safe || 'room'}.json`
}

/**
 * Reads an export (an array of bots, or an object with a `bots` array).
 * Returns {bots, error}: `error` is a message for the person, or null.
 * Unknown keys (such as `id` and `room` from the API) are ignored.
 */
export function parseBotsJson(text) {
  let data
  try {
    data = JSON.parse(text)
  } catch (e) {
    return { bots: [], error: `That is not valid JSON: ${e.message}` }
  }
  if (data && !Array.isArray(data) && Array.isArray(data.bots)) data = data.bots
  if (!Array.isArray(data)) {
    return { bots: [], error: 'Expected a JSON list of bots, like the one "Export" gives.' }
  }
  const bots = []
  for (const [i, item] of data.entries()) {
    const where = `Bot ${i + 1}`
    if (!item || typeof item !== 'object' || Array.isArray(item)) {
      return { bots: [], error: `${where} is not an object with name and url.` }
    }
    if (typeof item.name !== 'string' || item.name.trim() === '') {
      return { bots: [], error: `${where} needs a "name" (a non-empty string).` }
    }
    if (item.url != null && typeof item.url !== 'string') {
      return { bots: [], error: `${where} ("${item.name}"): "url" must be a string.` }
    }
    if (item.responds_to != null && typeof item.responds_to !== 'string') {
      return { bots: [], error: `${where} ("${item.name}"): "responds_to" must be a string or null.` }
    }
    bots.push(portable(item))
  }
  return { bots, error: null }
}

function sameBot(a, b) {
  const pa = portable(a)
  const pb = portable(b)
  return pa.name === pb.name && pa.responds_to === pb.responds_to && pa.url === pb.url
}

/**
 * What importing `imported` into a room holding `existing` would do, when an
 * import makes the room's bots exactly the imported list:
 *   identical: existing bots kept as they are (each matched once),
 *   added:     imported bots that will be created,
 *   removed:   existing bots that will be deleted.
 */
export function diffBots(existing, imported) {
  const unmatched = [...existing].sort((a, b) => (a.id ?? 0) - (b.id ?? 0))
  const identical = []
  const added = []
  for (const bot of imported) {
    const i = unmatched.findIndex((e) => sameBot(e, bot))
    if (i >= 0) {
      identical.push(unmatched[i])
      unmatched.splice(i, 1)
    } else {
      added.push(portable(bot))
    }
  }
  return { identical, added, removed: unmatched }
}
