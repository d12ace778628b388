import { test, expect, openRoom, send, messages, messageWith } from './fixtures.js'

test('two browsers in the same room see each other live', async ({ browser, room, baseURL }) => {
  const ann = await (await browser.newContext({ baseURL })).newPage()
  const bob = await (await browser.newContext({ baseURL })).newPage()
  await openRoom(ann, room, { name: 'Ann' })
  await openRoom(bob, room, { name: 'Bob' })
  await send(ann, 'hi Bob')
  await expect(messageWith(bob, 'hi Bob').locator('.author')).toHaveText('Ann')
  await expect(messageWith(bob, 'hi Bob')).not.toHaveClass(/mine/)
  await send(bob, 'hi Ann')
  await expect(messageWith(ann, 'hi Ann').locator('.author')).toHaveText('Bob')
  await expect(messages(ann)).toHaveCount(2)
  await expect(messages(bob)).toHaveCount(2)
  await ann.context().close()
  await bob.context().close()
})

test('the websocket dropping and coming back loses and duplicates nothing', async ({ page, room, api, botsUrl }) => {
  const doomed = await api.addBot(room, 'Doomed', `${botsUrl}/hello`)
  await api.addBot(room, 'Survivor', `${botsUrl}/hello`)
  let serverUp = true
  const sockets = []
  await page.routeWebSocket(/\/ws\//, (ws) => {
    sockets.push({ ws, url: ws.url(), up: serverUp })
    if (serverUp) ws.connectToServer()
    else ws.close({ code: 1011, reason: 'server down (test)' })
  })
  await openRoom(page, room)
  await page.getByRole('button', { name: 'Bots' }).click()
  await expect(page.locator('#bots-panel .bot')).toHaveCount(2)
  for (let i = 1; i <= 3; i += 1) await api.say(room, 'Bob', `before ${i}`)
  await expect(messages(page)).toHaveCount(3)
  const lastBefore = (await api.messages(room)).at(-1).id
  expect(sockets).toHaveLength(1)
  expect(new URL(sockets[0].url).searchParams.get('since')).toBe('-1')

  // Kill the connection and keep the "server" away while messages are posted.
  serverUp = false
  sockets[0].ws.close({ code: 1011, reason: 'test kill' })
  await expect(page.locator('.connection')).toContainText('Disconnected')
  for (let i = 1; i <= 4; i += 1) await api.say(room, 'Bob', `during ${i}`)
  await page.request.delete('/api/actions/bot', { data: { id: doomed.id } })
  await api.addBot(room, 'Newcomer', `${botsUrl}/hello`)
  await expect.poll(() => sockets.length, { timeout: 10_000 }).toBeGreaterThan(1)
  await expect(messages(page)).toHaveCount(3)

  // Back: the client resumes from the last id it saw.
  serverUp = true
  // The next retry may be up to 15 s away (the backoff's cap) if the
  // server stayed away long on a loaded machine.
  await expect(page.locator('.connection')).toHaveText('Connected', { timeout: 30_000 })
  const resumed = sockets.filter((s) => s.up).at(-1)
  expect(new URL(resumed.url).searchParams.get('since')).toBe(String(lastBefore))
  for (let i = 1; i <= 2; i += 1) await api.say(room, 'Bob', `after ${i}`)

  const expected = ['before 1', 'before 2', 'before 3', 'during 1', 'during 2', 'during 3', 'during 4', 'after 1', 'after 2']
  await expect(messages(page)).toHaveCount(expected.length)
  await expect(page.locator('.message .text')).toHaveText(expected)
  // Bots changed while away are up to date too.
  await expect
    .poll(() => page.locator('#bots-panel .bot input[id$="-name"]').evaluateAll((els) => els.map((e) => e.value)))
    .toEqual(['Survivor', 'Newcomer'])
  const ids = await page.locator('.message').evaluateAll((els) => els.map((e) => Number(e.dataset.messageId)))
  expect(ids).toEqual([...ids].sort((a, b) => a - b))
  expect(new Set(ids).size).toBe(ids.length)
})

test('clear room (confirmed by typing its name) clears both browsers', async ({ browser, room, baseURL, api }) => {
  const ann = await (await browser.newContext({ baseURL })).newPage()
  const bob = await (await browser.newContext({ baseURL })).newPage()
  for (let i = 1; i <= 3; i += 1) await api.say(room, 'Bob', `old ${i}`)
  await openRoom(ann, room)
  await openRoom(bob, room)
  await expect(messages(ann)).toHaveCount(3)
  await expect(messages(bob)).toHaveCount(3)

  await ann.getByRole('button', { name: 'Settings' }).click()
  const clear = ann.getByRole('button', { name: 'Clear all messages' })
  await expect(clear).toBeDisabled()
  const confirm = ann.getByLabel(/Type the room name/)
  await confirm.fill(room.slice(0, -1))
  await expect(clear).toBeDisabled()
  await confirm.fill(room)
  await expect(clear).toBeEnabled()
  await clear.click()
  await expect(ann.locator('#settings-panel')).toContainText('cleared')
  await expect(messages(ann)).toHaveCount(0)
  await expect(messages(bob)).toHaveCount(0)
  expect(await api.messages(room)).toEqual([])

  // New messages still arrive in both, and a fresh page shows only those.
  await send(bob, 'after the clear')
  await expect(messages(ann)).toHaveCount(1)
  const carol = await (await browser.newContext({ baseURL })).newPage()
  await openRoom(carol, room)
  await expect(carol.locator('.message .text')).toHaveText(['after the clear'])
  for (const p of [ann, bob, carol]) await p.context().close()
})

test('settings persist: display name, lecture mode', async ({ page, room }) => {
  await openRoom(page, room)
  await page.getByRole('button', { name: 'Settings' }).click()
  await page.getByLabel('Your display name').fill('Tutor Tess')
  await page.getByLabel(/Lecture mode/).check()
  await expect(page.locator('.room-name')).toHaveCount(0)
  await expect(page).toHaveTitle('NeCSuS')
  await page.reload()
  await expect(page.locator('.connection')).toHaveText('Connected')
  await expect(page.locator('.room-header h1')).toHaveText('NeCSuS')
  await send(page, 'hello class')
  await expect(messageWith(page, 'hello class').locator('.author')).toHaveText('Tutor Tess')
  await page.getByRole('button', { name: 'Settings' }).click()
  await expect(page.getByLabel('Your display name')).toHaveValue('Tutor Tess')
  await page.getByLabel(/Lecture mode/).uncheck()
  await expect(page.locator('.room-name')).toHaveText(room)
  await expect(page.getByRole('link', { name: /API documentation/ })).toHaveAttribute('href', '/docs/')
})

test('a busy room looks right (screenshot)', async ({ page, room, api, botsUrl }) => {
  await api.addBot(room, 'EchoBot', `${botsUrl}/echo`)
  await api.addBot(room, 'MemeBot', `${botsUrl}/meme`)
  await api.addBot(room, 'FormBot', `${botsUrl}/form`)
  await api.addBot(room, 'StateBot', `${botsUrl}/state`)
  await api.addBot(room, 'BrokenBot', `${botsUrl}/error`)
  await api.say(room, 'Joel', 'Welcome everyone! Try talking to <b>EchoBot</b>.')
  await api.say(room, 'Sam', 'hi EchoBot')
  await api.say(room, 'Sam', 'MemeBot show me something')
  await openRoom(page, room, { name: 'Ann' })
  await send(page, 'what about a BrokenBot error 404')
  await send(page, 'FormBot: dessert?')
  await messageWith(page, 'What is your favourite dessert?').getByRole('button', { name: 'Apple crumble' }).click()
  await expect(messageWith(page, 'You chose apple-crumble.')).toBeVisible()
  await send(page, 'StateBot count for me')
  await messageWith(page, 'Message 1 of our conversation').getByRole('button', { name: 'show state' }).click()
  await page.waitForTimeout(500)
  await page.screenshot({ path: 'test-results/screenshots/busy-room.png' })
  await page.setViewportSize({ width: 1280, height: 1700 })
  await expect.poll(() => page.locator('img.message-image').evaluate((el) => el.complete && el.naturalWidth > 0)).toBe(true)
  await page.waitForTimeout(300)
  await page.screenshot({ path: 'test-results/screenshots/busy-room-tall.png' })
  await page.setViewportSize({ width: 1280, height: 800 })
  await page.getByRole('button', { name: 'Bots' }).click()
  await page.screenshot({ path: 'test-results/screenshots/busy-room-bots.png' })
  await page.getByRole('button', { name: 'Close Bots' }).click()
  await page.setViewportSize({ width: 390, height: 780 })
  await page.waitForTimeout(300)
  await page.screenshot({ path: 'test-results/screenshots/busy-room-phone.png' })
})
