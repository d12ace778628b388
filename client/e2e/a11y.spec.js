// Automated accessibility checks (axe-core, WCAG 2 A/AA rules, contrast
// included) of the lobby and a room with its panels open.
import { createRequire } from 'node:module'
import { test, expect, openRoom, send } from './fixtures.js'

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js')

async function violations(page, { exclude = [] } = {}) {
  await page.addScriptTag({ path: axePath })
  const result = await page.evaluate(async (exclude) => {
    const r = await window.axe.run(
      { exclude: exclude.map((s) => [s]) },
      { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } },
    )
    return r.violations.map((v) => `${v.id}: ${v.help} → ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)
  }, exclude)
  return result
}

test('the lobby has no accessibility violations', async ({ page }) => {
  await page.goto('/')
  expect(await violations(page)).toEqual([])
})

test('a room and its panels have no accessibility violations', async ({ page, room, api, botsUrl }) => {
  await api.addBot(room, 'EchoBot', `${botsUrl}/echo`)
  await api.addBot(room, 'StateBot', `${botsUrl}/state`)
  await api.addBot(room, 'GhostBot', 'http://127.0.0.1:9/')
  await openRoom(page, room)
  await send(page, 'hi EchoBot and GhostBot')
  await send(page, 'StateBot')
  await page.locator('.state-toggle').first().click()
  // Bots' own HTML is theirs: only the client's parts are checked.
  const exclude = ['.message .text']
  expect(await violations(page, { exclude })).toEqual([])
  await page.getByRole('button', { name: 'Bots' }).click()
  expect(await violations(page, { exclude })).toEqual([])
  await page.getByRole('button', { name: 'Settings' }).click()
  expect(await violations(page, { exclude })).toEqual([])
  await page.emulateMedia({ colorScheme: 'dark' })
  expect(await violations(page, { exclude })).toEqual([])
  await page.screenshot({ path: 'test-results/screenshots/room-dark.png' })
})

test('keyboard users reach the message box first and can open the panels', async ({ page, room }) => {
  await openRoom(page, room)
  await expect(page.locator('#message-input')).toBeFocused()
  // From the top of the page: the skip link, then the header in order.
  await page.locator('.skip-link').focus()
  await expect(page.getByRole('link', { name: 'Skip to the message box' })).toBeVisible()
  await page.keyboard.press('Tab')
  await expect(page.getByRole('link', { name: 'NeCSuS lobby' })).toBeFocused()
  await page.keyboard.press('Tab')
  await expect(page.getByRole('button', { name: 'Bots' })).toBeFocused()
  await page.keyboard.press('Tab')
  await expect(page.getByRole('button', { name: 'Settings' })).toBeFocused()
  await page.keyboard.press('Enter')
  await expect(page.getByRole('heading', { name: 'Settings' })).toBeFocused()
  await page.keyboard.press('Tab')
  await page.keyboard.press('Tab')
  await expect(page.getByLabel('Your display name')).toBeFocused()
  await page.keyboard.press('Escape')
  await expect(page.getByRole('button', { name: 'Settings' })).toBeFocused()
})
