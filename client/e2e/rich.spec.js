import { test, expect, openRoom, send, messageWith } from './fixtures.js'

const loaded = (img) => img.evaluate((el) => el.complete && el.naturalWidth > 0)

test('an image reply and a relative meme image both load', async ({ page, room, api, botsUrl }) => {
  await api.addBot(room, 'ImageBot', `${botsUrl}/image`)
  await api.addBot(room, 'MemeBot', `${botsUrl}/meme`)
  await openRoom(page, room)

  await send(page, 'show me a picture ImageBot')
  const image = messageWith(page, 'Here is a picture.').locator('img.message-image')
  await expect(image).toHaveAttribute('src', `${botsUrl}/static/necsus.png`)
  await expect.poll(() => loaded(image)).toBe(true)

  await send(page, 'MemeBot please')
  const meme = messageWith(page, 'A meme, linked relatively')
  // Both the `image` key and the <img> in the text resolve against base_url.
  await expect(meme.locator('img.message-image')).toHaveAttribute('src', `${botsUrl}/static/meme.png`)
  await expect(meme.locator('img.meme-inline')).toHaveAttribute('src', `${botsUrl}/static/meme.png`)
  await expect.poll(() => loaded(meme.locator('img.message-image'))).toBe(true)
  await expect.poll(() => loaded(meme.locator('img.meme-inline'))).toBe(true)
})

test('a media reply is playable', async ({ page, room, api, botsUrl }) => {
  await api.addBot(room, 'MediaBot', `${botsUrl}/media`)
  await openRoom(page, room)
  await send(page, 'MediaBot beep')
  const audio = messageWith(page, 'Beep!').locator('audio.message-media')
  await expect(audio).toHaveAttribute('src', `${botsUrl}/static/beep.wav`)
  await expect(audio).toHaveAttribute('controls', '')
  await expect.poll(() => audio.evaluate((el) => el.readyState >= 1 && el.duration > 0)).toBe(true)
})

test('a bot <script> runs exactly once per message', async ({ page, room, api, botsUrl }) => {
  await api.addBot(room, 'ScriptBot', `${botsUrl}/script`)
  const sockets = []
  await page.routeWebSocket(/\/ws\//, (ws) => {
    ws.connectToServer()
    sockets.push(ws)
  })
  await openRoom(page, room)
  await send(page, 'run ScriptBot')
  await expect(page.locator('.script-bot-marker')).toHaveCount(1)
  expect(await page.evaluate(() => window.necsusScriptRuns)).toBe(1)

  // Later messages, and a reconnect of the websocket, run nothing again.
  await send(page, 'something else')
  await send(page, 'and more')
  sockets.at(-1).close({ code: 4000, reason: 'test drop' })
  await expect(page.locator('.connection')).not.toHaveText('Connected')
  await expect(page.locator('.connection')).toHaveText('Connected', { timeout: 15_000 })
  await send(page, 'after the reconnect')
  expect(await page.evaluate(() => window.necsusScriptRuns)).toBe(1)

  // A second message from the bot runs its own script once.
  await send(page, 'again ScriptBot')
  await expect(page.locator('.script-bot-marker')).toHaveCount(2)
  expect(await page.evaluate(() => window.necsusScriptRuns)).toBe(2)

  // A page opened later runs each message's script once as it is shown.
  const second = await page.context().newPage()
  await openRoom(second, room)
  await expect(second.locator('.script-bot-marker')).toHaveCount(2)
  expect(await second.evaluate(() => window.necsusScriptRuns)).toBe(2)
})

test("ButtonBot's css and js load once and its button works", async ({ page, room, api, botsUrl }) => {
  await api.addBot(room, 'ButtonBot', `${botsUrl}/button`)
  await openRoom(page, room)
  await send(page, 'ButtonBot one')
  await send(page, 'ButtonBot two')
  const buttons = page.locator('.necsus-example-button')
  await expect(buttons).toHaveCount(2)
  await expect(page.locator(`head link[href="${botsUrl}/static/button.css"]`)).toHaveCount(1)
  await expect(page.locator(`head script[src="${botsUrl}/static/button.js"]`)).toHaveCount(1)
  // The bot's stylesheet applies (teal background).
  await expect(buttons.first()).toHaveCSS('background-color', 'rgb(0, 150, 136)')

  // The script wired both buttons through window.Necsus.
  await buttons.first().click()
  await expect(buttons.first()).toHaveClass(/clicked/)
  const input = page.locator('#message-input')
  await expect(input).toHaveValue('button clicked')
  await expect(input).toBeFocused()
  await input.fill('')
  await buttons.nth(1).click()
  await expect(buttons.nth(1)).toHaveClass(/clicked/)
  await expect(input).toHaveValue('button clicked')

  // A message arriving after the script loaded is wired too.
  await send(page, 'ButtonBot three')
  await expect(buttons).toHaveCount(3)
  await buttons.nth(2).click()
  await expect(buttons.nth(2)).toHaveClass(/clicked/)
})

test('window.Necsus calls listeners for old and new messages once each', async ({ page, room, api }) => {
  await api.say(room, 'Bob', 'first')
  await api.say(room, 'Bob', 'second')
  await openRoom(page, room)
  await expect(page.locator('.message')).toHaveCount(2)
  await page.evaluate(() => {
    window.seen = []
    window.Necsus.addEventListener('message', (el, msg) => {
      window.seen.push([msg.text, el.isConnected, el.textContent.includes(msg.text)])
    })
  })
  await api.say(room, 'Bob', 'third')
  await expect(page.locator('.message')).toHaveCount(3)
  expect(await page.evaluate(() => window.seen)).toEqual([
    ['first', true, true],
    ['second', true, true],
    ['third', true, true],
  ])
  await page.evaluate(() => window.Necsus.focusMessageInput('typed by a bot'))
  await expect(page.locator('#message-input')).toHaveValue('typed by a bot')
  await expect(page.locator('#message-input')).toBeFocused()
})
