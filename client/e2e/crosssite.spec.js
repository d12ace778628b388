// An outside page (another loopback port: another origin) tries to act
// through the visitor's browser: a JSON fetch, a text/plain fetch that needs
// no preflight, and a plain HTML form with no script at all. NeCSuS refuses
// all three; the room page itself still works.
import { createServer } from 'node:http'
import { test, expect, openRoom, send, messageWith } from './fixtures.js'

function outsideSite(baseURL, room) {
  // A text/plain form whose one field makes the body valid JSON:
  // name + "=" + value is {"room":"…","x":"="}.
  const attr = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;')
  const name = `{"room":${JSON.stringify(room)},"x":"`
  const form = `<!doctype html><title>outside</title>
    <form method="post" enctype="text/plain" action="${attr(`${baseURL}/api/actions/clear-room-messages`)}">
      <input type="hidden" name="${attr(name)}" value="${attr('"}')}">
      <button>Win a prize</button>
    </form>`
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'text/html')
    res.end(req.url === '/form' ? form : '<!doctype html><title>outside</title><p>hello')
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(server))
  })
}

test('an outside page cannot post, add bots or clear a room through the browser', async ({ page, room, api, baseURL }) => {
  await api.say(room, 'ann', 'before')
  const server = await outsideSite(baseURL, room)
  const outside = `http://127.0.0.1:${server.address().port}`
  try {
    await page.goto(`${outside}/`)
    const statuses = await page.evaluate(async ({ base, room }) => {
      const post = (path, body, init) =>
        fetch(base + path, { method: 'POST', body: JSON.stringify(body), ...init }).then(
          (r) => r.status,
          (e) => `error: ${e}`,
        )
      return {
        json: await post('/api/actions/message', { room, author: 'mallory', text: 'json fetch' }, {
          headers: { 'Content-Type': 'application/json' },
        }),
        bot: await post('/api/actions/bot', { room, name: 'Spy', url: 'http://127.0.0.1:9/' }, {
          headers: { 'Content-Type': 'application/json' },
        }),
        // Opaque: the page cannot see the answer, only whether it acted.
        plain: await post('/api/actions/message', { room, author: 'mallory', text: 'plain fetch' }, {
          mode: 'no-cors',
          headers: { 'Content-Type': 'text/plain' },
        }),
      }
    }, { base: baseURL, room })
    expect(statuses.json).toBe(403)
    expect(statuses.bot).toBe(403)

    await page.goto(`${outside}/form`)
    await Promise.all([page.waitForURL(/clear-room-messages/), page.getByRole('button', { name: 'Win a prize' }).click()])
    await expect(page.locator('body')).toContainText('another website')

    const texts = (await api.messages(room)).map((m) => m.text)
    expect(texts).toEqual(['before'])
    expect(await api.bots(room)).toEqual([])
  } finally {
    server.close()
  }
  // The room page itself still posts.
  await openRoom(page, room)
  await send(page, 'from the room page')
  await expect(messageWith(page, 'from the room page')).toBeVisible()
})
