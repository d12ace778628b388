import { readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { test, expect, openRoom, send, messageWith } from './fixtures.js'

test('install EchoBot through the bots panel and get its reply', async ({ page, room, botsUrl, api }) => {
  await openRoom(page, room)
  await page.getByRole('button', { name: 'Bots' }).click()
  await expect(page.locator('#bots-panel')).toContainText('This room has no bots yet.')
  await page.getByRole('button', { name: '+ Add a bot' }).click()
  const row = page.locator('#bots-panel .bot')
  await expect(row).toHaveCount(1)
  // A random three-animal name and an empty URL; the URL field has focus.
  const nameField = row.getByLabel('Name')
  await expect(nameField).toHaveValue(/^([A-Z][a-z]+){3}$/)
  await expect(row.getByLabel('URL')).toHaveValue('')
  await expect(row.getByLabel('URL')).toBeFocused()

  await row.getByLabel('URL').fill(`${botsUrl}/echo`)
  await row.getByLabel('URL').press('Tab')
  await nameField.fill('EchoBot')
  await nameField.press('Tab')
  await expect(row.locator('.status')).toHaveText('Saved')
  await expect
    .poll(async () => (await api.bots(room)).map((b) => [b.name, b.url, b.responds_to || '']))
    .toEqual([['EchoBot', `${botsUrl}/echo`, '']])

  await send(page, 'hi echobot, how are you?')
  const reply = messageWith(page, 'Hello! Your message was: hi echobot, how are you?')
  await expect(reply).toHaveClass(/kind-bot/)
  await expect(reply.locator('.author')).toHaveText('EchoBot')

  // "responds to" takes over from the name.
  await row.getByLabel('Responds to').fill('^echo (?P<what>.+)')
  await row.getByLabel('Responds to').press('Tab')
  await expect.poll(async () => (await api.bots(room))[0].responds_to).toBe('^echo (?P<what>.+)')
  await send(page, 'echo this please')
  await expect(messageWith(page, 'Your message was: echo this please')).toBeVisible()

  // Delete it (with a confirmation step).
  await row.getByRole('button', { name: /^Delete/ }).click()
  await row.getByRole('button', { name: 'Delete EchoBot for good' }).click()
  await expect(row).toHaveCount(0)
  expect(await api.bots(room)).toEqual([])
})

test('bot changes from elsewhere show live in the panel', async ({ page, room, api, botsUrl }) => {
  await openRoom(page, room)
  await page.getByRole('button', { name: 'Bots' }).click()
  const bot = await api.addBot(room, 'Helper', `${botsUrl}/hello`)
  const row = page.locator(`#bots-panel .bot[data-bot-id="${bot.id}"]`)
  await expect(row.getByLabel('Name')).toHaveValue('Helper')
  await api.addBot(room, 'Helper2', `${botsUrl}/hello`).then(() => {})
  await expect(page.locator('#bots-panel .bot')).toHaveCount(2)
  await page.request.post('/api/actions/bot', { data: { id: bot.id, room, name: 'Renamed', url: bot.url } })
  await expect(row.getByLabel('Name')).toHaveValue('Renamed')
  await page.request.delete('/api/actions/bot', { data: { id: bot.id } })
  await expect(row).toHaveCount(0)
})

test('a bot with nothing listening gives a distinct system message', async ({ page, room, api }) => {
  const port = await new Promise((ok) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => ok(port))
    })
  })
  await api.addBot(room, 'GhostBot', `http://127.0.0.1:${port}/nothing`)
  await openRoom(page, room)
  await send(page, 'are you there GhostBot?')
  const error = page.locator('.message.kind-system')
  await expect(error).toHaveCount(1)
  await expect(error.locator('.author')).toHaveText('NeCSuS')
  await expect(error.locator('.badge')).toContainText('system')
  await expect(error).toContainText('GhostBot')
  const [systemBg, userBg] = await Promise.all([
    error.locator('.bubble').evaluate((el) => getComputedStyle(el).backgroundColor),
    messageWith(page, 'are you there').locator('.bubble').evaluate((el) => getComputedStyle(el).backgroundColor),
  ])
  expect(systemBg).not.toBe(userBg)
})

test('export bots, then import them into another room', async ({ browser, room, api, botsUrl, baseURL }) => {
  const context = await browser.newContext({ baseURL, acceptDownloads: true })
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseURL })
  const page = await context.newPage()
  await api.addBot(room, 'EchoBot', `${botsUrl}/echo`)
  await api.addBot(room, 'Repeater', `${botsUrl}/echo`, 'repeat (?P<word>\\w+) (?P<count>\\d+) times')
  await api.addBot(room, 'Unfinished', '')
  const other = `${room} (copy)`
  await api.addBot(other, 'EchoBot', `${botsUrl}/echo`)
  await api.addBot(other, 'Leftover', `${botsUrl}/hello`)

  await openRoom(page, room)
  await page.getByRole('button', { name: 'Bots' }).click()
  await expect(page.locator('#bots-panel .bot')).toHaveCount(3)
  await page.getByRole('button', { name: 'Copy bots as JSON' }).click()
  await expect(page.locator('#bots-panel')).toContainText('Copied to the clipboard.')
  const copied = await page.evaluate(() => navigator.clipboard.readText())
  expect(JSON.parse(copied)).toEqual([
    { name: 'EchoBot', responds_to: '', url: `${botsUrl}/echo` },
    { name: 'Repeater', responds_to: 'repeat (?P<word>\\w+) (?P<count>\\d+) times', url: `${botsUrl}/echo` },
    { name: 'Unfinished', responds_to: '', url: '' },
  ])
  const downloading = page.waitForEvent('download')
  await page.getByRole('button', { name: 'Download JSON file' }).click()
  const download = await downloading
  expect(download.suggestedFilename()).toMatch(/^necsus-bots-.*\.json$/)
  const file = await download.path()
  expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(JSON.parse(copied))

  // Import the file into the other room: a preview first.
  await openRoom(page, other)
  await page.getByRole('button', { name: 'Bots' }).click()
  await page.getByLabel('…or choose an exported file').setInputFiles(file)
  const preview = page.locator('.preview')
  await expect(preview.locator('.added h4')).toHaveText('New (2)')
  await expect(preview.locator('.identical h4')).toHaveText('Identical, kept (1)')
  await expect(preview.locator('.removed h4')).toHaveText('To be removed (1)')
  await expect(preview.locator('.removed')).toContainText('Leftover')
  await expect(preview.locator('.added')).toContainText('Repeater')
  await page.getByRole('button', { name: 'Apply import' }).click()
  await expect(page.locator('#bots-panel')).toContainText('Imported: 2 added, 1 removed, 1 kept.')
  const strip = (bots) => bots.map((b) => ({ name: b.name, responds_to: b.responds_to || '', url: b.url })).sort((a, b) => a.name.localeCompare(b.name))
  expect(strip(await api.bots(other))).toEqual(strip(await api.bots(room)))
  await expect(page.locator('#bots-panel .bot')).toHaveCount(3)

  // Pasting the same export again changes nothing.
  await page.getByLabel('Import: paste exported JSON').fill(copied)
  await expect(preview.locator('.identical h4')).toHaveText('Identical, kept (3)')
  await expect(page.getByRole('button', { name: 'Nothing to change' })).toBeDisabled()
  await page.getByLabel('Import: paste exported JSON').fill('{oops')
  await expect(page.locator('#bots-panel [role=alert]')).toContainText('not valid JSON')
  await context.close()
})
