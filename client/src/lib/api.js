// The server's JSON API (SPEC §3). Errors come back as {"message": "..."};
// they are thrown as ApiError carrying that message for the person to read.

export class ApiError extends Error {
  constructor(message, status) {
    super(message)
    this.name = 'ApiError'
    this.status = status
  }
}

async function request(method, path, body) {
  let response
  try {
    response = await fetch(path, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  } catch {
    throw new ApiError('Could not reach the NeCSuS server. Is it running?', 0)
  }
  const text = await response.text()
  let data = null
  try {
    data = text ? JSON.parse(text) : null
  } catch {
    data = null
  }
  if (!response.ok) {
    const message =
      data && typeof data.message === 'string'
        ? data.message
        : `The server answered ${response.status} ${response.statusText}`.trim()
    throw new ApiError(message, response.status)
  }
  return data
}

export const api = {
  sendMessage: (room, author, text) => request('POST', '/api/actions/message', { room, author, text }),
  submitForm: (room, author, botId, actionUrl, formData) =>
    request('POST', '/api/actions/message-form', {
      room,
      author,
      bot_id: botId,
      action_url: actionUrl,
      form_data: formData,
    }),
  saveBot: (bot) => request('POST', '/api/actions/bot', bot),
  deleteBot: (id) => request('DELETE', '/api/actions/bot', { id }),
  clearMessages: (room) => request('POST', '/api/actions/clear-room-messages', { room }),
  clearState: (room) => request('POST', '/api/actions/clear-room-state', { room }),
  listBots: (room) => request('GET', `/api/bots?room=${encodeURIComponent(room)}`),
  listBotCalls: (room, { botId = null, since = null } = {}) => {
    let path = `/api/bot-calls?room=${encodeURIComponent(room)}`
    if (Number.isInteger(botId)) path += `&bot_id=${botId}`
    if (Number.isInteger(since)) path += `&since=${since}`
    return request('GET', path)
  },
  testBot: (id) => request('POST', '/api/actions/bot-test', { id }),
  replayCall: (callId) => request('POST', '/api/actions/bot-replay', { call_id: callId }),
}
