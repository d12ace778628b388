// The bot-call inspector: "… is thinking", the Bot log panel, error
// messages linking to their call, Test and Replay.
import { createRequire } from 'node:module'
import { test, expect, openRoom, send, messages, messageWith } from './fixtures.js'

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js')

const calls = async (page, room, query = '') => {
  const response = await page.request.get(`/api/bot-calls?room=${encodeURIComponent(room)}${query}`)
  expect(response.status(), await response.text()).toBe(200)
  return response.json()
}
const logRows = (page) => page.locator('#bot-log-panel .call')
const openLog = async (page) => {
  await page.getByRole('button', { name: 'Bot log', exact: true }).click()
  await expect(page.locator('#bot-log-panel')).toBeVisible()
}

test('"… is thinking" shows while SleepBot sleeps, with the seconds, and goes when it answers', async ({ page, room, api, botsUrl }) => {
  await api.addBot(room, 'SleepBot', `${botsUrl}/sleep`, '^sleep')
  await openRoom(page, room)
  const thinking = page.locator('.thinking-line')
  await expect(thinking).toHaveCount(0)

  // Long enough that the seconds (shown from 2 s on) stay up for several
  // seconds, not a window a slow poll could miss.
  const sent = api.say(room, 'Ann', 'sleep 8')
  await expect(thinking).toHaveCount(1)
  await expect(thinking).toHaveText(/^SleepBot is thinking…$/)
  await expect(thinking).toHaveText(/^SleepBot is thinking… [2-8] s$/)
  await page.screenshot({ path: 'test-results/screenshots/thinking.png' })
  await sent
  await expect(messageWith(page, 'I slept for 8 seconds.')).toBeVisible()
  await expect(thinking).toHaveCount(0)
})

test('someone opening the room mid-call sees the bot thinking since the call began', async ({ page, room, api, botsUrl }) => {
  await api.addBot(room, 'SleepBot', `${botsUrl}/sleep`, '^sleep')
  const sent = api.say(room, 'Ann', 'sleep 16')
  await page.waitForTimeout(7_000)
  const joined = Date.now()
  await openRoom(page, room)
  // The seconds count from the server's start time, not from joining: they
  // run ahead of the time since joining by about the 7 s waited before it,
  // however long the page took to open and show them.
  const elapsed = page.locator('.thinking-line .elapsed')
  await expect(page.locator('.thinking-line')).toHaveText(/^SleepBot is thinking… \d+ s$/)
  const shown = Number.parseInt(await elapsed.textContent(), 10)
  const sinceJoining = (Date.now() - joined) / 1000
  expect(shown, `${shown} s shown, ${sinceJoining} s after joining`).toBeGreaterThanOrEqual(sinceJoining + 2)
  await sent
  await expect(messageWith(page, 'I slept for 16 seconds.')).toBeVisible()
  await expect(page.locator('.thinking-line')).toHaveCount(0)
})

test('a call that ends while the socket is down is forgotten on reconnect', async ({ page, room, api, botsUrl }) => {
  await api.addBot(room, 'SleepBot', `${botsUrl}/sleep`, '^sleep')
  let serverUp = true
  const sockets = []
  await page.routeWebSocket(/\/ws\//, (ws) => {
    sockets.push(ws)
    if (serverUp) ws.connectToServer()
    else ws.close({ code: 1011, reason: 'server down (test)' })
  })
  await openRoom(page, room)
  // Long enough to see the call and drop the socket before it ends.
  const sent = api.say(room, 'Ann', 'sleep 6')
  await expect(page.locator('.thinking-line')).toHaveText(/SleepBot is thinking/)
  serverUp = false
  sockets[0].close({ code: 1011, reason: 'test kill' })
  await expect(page.locator('.connection')).toContainText('Disconnected')
  await sent
  // While disconnected nobody says the call ended...
  await expect(page.locator('.thinking-line')).toHaveCount(1)
  serverUp = true
  // The next retry may be up to 15 s away (the backoff's cap) if the
  // server stayed away long on a loaded machine.
  await expect(page.locator('.connection')).toHaveText('Connected', { timeout: 30_000 })
  // ...but the reconnect did not announce it again, so it is over.
  await expect(page.locator('.thinking-line')).toHaveCount(0)
  await expect(messageWith(page, 'I slept for 6 seconds.')).toBeVisible()
})

test('the log shows EchoBot’s exact request and reply, live, with copy and a bot filter', async ({ browser, room, api, botsUrl, baseURL }) => {
  const context = await browser.newContext({ baseURL })
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseURL })
  const page = await context.newPage()
  const echo = await api.addBot(room, 'EchoBot', `${botsUrl}/echo`)
  await api.addBot(room, 'HelloBot', `${botsUrl}/hello`)
  await openRoom(page, room, { name: 'Ann' })
  await send(page, 'hi EchoBot <b>&</b> "quotes"')
  await expect(messageWith(page, 'Hello! Your message was:')).toHaveCount(1)

  await openLog(page)
  const row = logRows(page).first()
  await expect(logRows(page)).toHaveCount(1)
  await expect(row.locator('.bot')).toHaveText('EchoBot')
  await expect(row.locator('.line2')).toContainText('match')
  await expect(row.locator('.status')).toContainText('200')
  await expect(row.locator('.outcome')).toContainText('ok')
  await expect(row.locator('.latency')).toContainText(/\d( ms| s)$/)
  await expect(row).not.toHaveClass(/failed/)

  await row.locator('.summary').click()
  await expect(row.locator('.summary')).toHaveAttribute('aria-expanded', 'true')
  const request = { room, author: 'Ann', text: 'hi EchoBot <b>&</b> "quotes"', params: {} }
  // The recorded request, pretty-printed (in the key order it was recorded).
  await expect(row.locator('pre.request')).toContainText('"author": "Ann"')
  const shownRequest = await row.locator('pre.request').textContent()
  expect(JSON.parse(shownRequest)).toEqual(request)
  expect(shownRequest).toBe(JSON.stringify(JSON.parse(shownRequest), null, 2))
  await expect(row.locator('pre.request .j-key', { hasText: '"room"' })).toHaveCount(1)
  await expect(row.locator('pre.request .j-string', { hasText: '"Ann"' })).toHaveCount(1)
  const [record] = await calls(page, room)
  expect(record).toMatchObject({ bot_id: echo.id, bot_name: 'EchoBot', activation: 'match', request, status: 200, outcome: 'ok' })
  const reply = JSON.parse(record.response_body)
  await expect(row.locator('pre.response')).toHaveText(JSON.stringify(reply, null, 2))
  await expect(row.locator('pre.response .j-string').first()).toBeVisible()
  expect(reply.text).toContain('Your message was: hi EchoBot')
  await expect(row.locator('.facts')).toContainText(`${botsUrl}/echo`)

  await row.getByRole('button', { name: 'Copy request' }).click()
  await expect(row.locator('.note')).toHaveText('Copied the request.')
  expect(JSON.parse(await page.evaluate(() => navigator.clipboard.readText()))).toEqual(request)
  await row.getByRole('button', { name: 'Copy as curl' }).click()
  expect(await page.evaluate(() => navigator.clipboard.readText())).toMatch(/^curl -X POST '.*\/echo' -H 'Content-Type: application\/json' -d '/)

  // Live: new calls arrive at the top while the panel is open; opening one
  // fetches its body (websocket frames carry none).
  await api.say(room, 'Bob', 'HelloBot, are you there?')
  await expect(logRows(page)).toHaveCount(2)
  const hello = logRows(page).first()
  await expect(hello.locator('.bot')).toHaveText('HelloBot')
  await expect(hello.locator('.outcome')).toContainText('ok')
  await hello.locator('.summary').click()
  await expect(hello.locator('pre.response')).toHaveText(JSON.stringify({ text: 'Hello, Bob!' }, null, 2))
  await expect(hello.locator('pre.request')).toContainText('"author": "Bob"')

  // Filter by bot.
  await page.getByLabel('Show calls to').selectOption({ label: 'EchoBot' })
  await expect(logRows(page)).toHaveCount(1)
  await expect(logRows(page).locator('.bot')).toHaveText('EchoBot')
  await page.getByLabel('Show calls to').selectOption({ label: 'Every bot' })
  await expect(logRows(page)).toHaveCount(2)

  // Escape closes the panel and returns focus to its button.
  await logRows(page).first().locator('.summary').focus()
  await page.keyboard.press('Escape')
  await expect(page.locator('#bot-log-panel')).toHaveCount(0)
  await expect(page.getByRole('button', { name: 'Bot log', exact: true })).toBeFocused()
  await context.close()
})

test('a 404 bot’s error message links to its call in the log', async ({ page, room, api, botsUrl }) => {
  await api.addBot(room, 'EchoBot', `${botsUrl}/echo`, '^echo')
  const broken = await api.addBot(room, 'BrokenBot', `${botsUrl}/error`, 'error')
  await openRoom(page, room)
  await send(page, 'echo first')
  await send(page, 'error 404')
  const error = page.locator('.message.kind-system')
  await expect(error).toHaveCount(1)
  await expect(error).toContainText('404')
  const link = error.getByRole('link', { name: 'Show this call in the bot log' })
  await expect(link).toBeVisible()
  // No link on messages that are not about a failed call.
  await expect(page.locator('.message .call-link')).toHaveCount(1)

  const messageId = Number(await error.getAttribute('data-message-id'))
  const record = (await calls(page, room, `&bot_id=${broken.id}`)).at(-1)
  expect(record).toMatchObject({ bot_name: 'BrokenBot', status: 404, outcome: 'bad_status', message_id: messageId })
  expect(record.error).toContain('404')

  await link.click()
  const panel = page.locator('#bot-log-panel')
  await expect(panel).toBeVisible()
  const row = panel.locator(`.call[data-call-id="${record.id}"]`)
  await expect(row.locator('.summary')).toHaveAttribute('aria-expanded', 'true')
  await expect(row.locator('.summary')).toBeFocused()
  await expect(row).toHaveClass(/failed/)
  await expect(row.locator('.status')).toContainText('404')
  await expect(row.locator('.outcome')).toContainText('bad status')
  const red = await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--bad').trim())
  const outcomeColor = await row.locator('.outcome').evaluate((el) => getComputedStyle(el).color)
  expect(outcomeColor).toBe(await page.evaluate((c) => {
    const el = document.createElement('span')
    el.style.color = c
    document.body.append(el)
    const rgb = getComputedStyle(el).color
    el.remove()
    return rgb
  }, red))
  await expect(row.locator('.said')).toContainText('404')
  await expect(row.locator('pre.response')).toHaveText(record.response_body)
  await expect(row.locator('pre.request')).toContainText('"text": "error 404"')
  const okRow = logRows(page).filter({ hasText: 'EchoBot' })
  await expect(okRow).not.toHaveClass(/failed/)

  // After a reload the link comes from the fetched log, and the hash opens it.
  await page.reload()
  await expect(page.locator('.connection')).toHaveText('Connected')
  await expect(page.locator('.message.kind-system .call-link a')).toHaveAttribute('href', `#bot-call-${record.id}`)
  await page.goto(`/${encodeURIComponent(room)}#bot-call-${record.id}`)
  await expect(page.locator(`#bot-log-panel .call[data-call-id="${record.id}"] .summary`)).toHaveAttribute('aria-expanded', 'true')
})

test('Test on a bot shows the result inline and posts nothing; Replay adds a new call at the top', async ({ page, room, api, botsUrl }) => {
  const echo = await api.addBot(room, 'EchoBot', `${botsUrl}/echo`)
  const broken = await api.addBot(room, 'BrokenBot', `${botsUrl}/error`, '^never$')
  await openRoom(page, room)
  await send(page, 'hello EchoBot')
  await expect(messages(page)).toHaveCount(2)
  const before = (await api.messages(room)).length

  await page.getByRole('button', { name: 'Bots', exact: true }).click()
  const echoRow = page.locator(`#bots-panel .bot[data-bot-id="${echo.id}"]`)
  await echoRow.getByRole('button', { name: 'Test EchoBot' }).click()
  const result = echoRow.locator('.test-result')
  await expect(result).toContainText(/200 · [\d.]+ (ms|s) · ok/)
  await expect(result.locator('.test-reply')).toContainText('Hello! Your message was: test')
  const brokenRow = page.locator(`#bots-panel .bot[data-bot-id="${broken.id}"]`)
  await brokenRow.getByRole('button', { name: 'Test BrokenBot' }).click()
  await expect(brokenRow.locator('.test-result .error-text')).toContainText('500')
  await expect(brokenRow.locator('.test-result')).toContainText('bad status')
  await page.screenshot({ path: 'test-results/screenshots/bots-test.png' })

  const all = await calls(page, room)
  const tested = all.find((c) => c.activation === 'test' && c.bot_name === 'EchoBot')
  expect(tested.request).toEqual({ room, author: 'NeCSuS', text: 'test', params: {} })
  expect(tested.message_id).toBe(null)

  // The test result links to its call in the log.
  await echoRow.getByRole('link', { name: 'Open in the bot log' }).click()
  const testedRow = page.locator(`#bot-log-panel .call[data-call-id="${tested.id}"]`)
  await expect(testedRow.locator('.summary')).toHaveAttribute('aria-expanded', 'true')
  await expect(testedRow.locator('.line2')).toContainText('test')

  // Replay the original match call.
  const original = all.find((c) => c.activation === 'match')
  const originalRow = page.locator(`#bot-log-panel .call[data-call-id="${original.id}"]`)
  await originalRow.locator('.summary').click()
  await originalRow.getByRole('button', { name: `Replay call #${original.id}` }).click()
  await expect(page.locator('#bot-log-panel .state')).toContainText('Replayed: the new call')
  const top = logRows(page).first()
  await expect(top.locator('.line2')).toContainText('replay')
  await expect(top.locator('.summary')).toHaveAttribute('aria-expanded', 'true')
  await expect(top.locator('.summary')).toBeFocused()
  await expect(top.locator('pre.request')).toContainText('"text": "hello EchoBot"')
  expect(JSON.parse(await top.locator('pre.request').textContent())).toEqual(original.request)
  await expect(top.locator('pre.response')).toContainText('Your message was: hello EchoBot')
  const replayed = (await calls(page, room)).at(-1)
  expect(replayed).toMatchObject({ activation: 'replay', request: original.request, url: original.url, outcome: 'ok' })
  expect(Number(await top.getAttribute('data-call-id'))).toBe(replayed.id)

  // Neither the tests nor the replay posted anything into the room.
  expect((await api.messages(room)).length).toBe(before)
  await expect(messages(page)).toHaveCount(2)
})

test('the bot log is accessible in light and dark, and fits a phone', async ({ page, room, api, botsUrl }) => {
  await api.addBot(room, 'EchoBot', `${botsUrl}/echo`)
  await api.addBot(room, 'BrokenBot', `${botsUrl}/error`, 'error')
  await openRoom(page, room)
  await send(page, 'hi EchoBot')
  await send(page, 'error 404')
  await openLog(page)
  await expect(logRows(page)).toHaveCount(2)
  for (const row of await logRows(page).all()) await row.locator('.summary').click()
  await expect(page.locator('#bot-log-panel pre.response')).toHaveCount(2)
  const check = async () => {
    await page.addScriptTag({ path: axePath })
    return page.evaluate(async () => {
      const r = await window.axe.run(
        { exclude: [['.message .text']] },
        { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } },
      )
      return r.violations.map((v) => `${v.id}: ${v.help} → ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)
    })
  }
  expect(await check()).toEqual([])
  await page.screenshot({ path: 'test-results/screenshots/bot-log.png' })
  await page.emulateMedia({ colorScheme: 'dark' })
  expect(await check()).toEqual([])
  await page.screenshot({ path: 'test-results/screenshots/bot-log-dark.png' })
  await page.emulateMedia({ colorScheme: 'light' })
  await page.setViewportSize({ width: 390, height: 780 })
  await page.waitForTimeout(300)
  // Full screen on a phone, nothing wider than the screen.
  const box = await page.locator('#bot-log-panel').boundingBox()
  expect(box.width).toBeLessThanOrEqual(390)
  const overflow = await page.locator('#bot-log-panel .panel-body').evaluate((el) => el.scrollWidth - el.clientWidth)
  expect(overflow).toBeLessThanOrEqual(0)
  await page.screenshot({ path: 'test-results/screenshots/bot-log-phone.png' })
  expect(await check()).toEqual([])
})
