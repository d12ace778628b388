// Records and frames shared by the bot-call tests.

export const started = (id, extra = {}) => ({
  id,
  room: 'r',
  bot_id: 1,
  bot_name: 'EchoBot',
  url: 'http://127.0.0.1:1234/echo',
  activation: 'match',
  started: 1000 + id,
  ...extra,
})
export const finished = (id, extra = {}) => ({
  ...started(id),
  request: { room: 'r', author: 'Ann', text: `hi ${id}`, params: {} },
  latency_ms: 12.5,
  status: 200,
  content_type: 'application/json',
  content_length: 20,
  response_truncated: false,
  outcome: 'ok',
  error: null,
  message_id: 100 + id,
  ...extra,
})
export const full = (id, extra = {}) => ({ ...finished(id), response_body: `{"text":"reply ${id}"}`, ...extra })

export const queue = (waiting, extra = {}) => ({
  kind: 'bot_turn_queue',
  data: { room: 'r', bot_id: 7, bot_name: 'quizbot', waiting, ...extra },
})
export const quizCall = (id, extra = {}) => ({
  kind: 'bot_call_started',
  data: started(id, { bot_id: 7, bot_name: 'quizbot', activation: 'conversation', ...extra }),
})
