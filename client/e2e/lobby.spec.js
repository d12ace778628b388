import { test, expect } from './fixtures.js'

test('join a room with spaces and a slash from the lobby', async ({ page }) => {
  const room = `lobby test/${Date.now()} café`
  await page.goto('/')
  await expect(page.getByRole('heading', { name: 'Welcome to NeCSuS' })).toBeVisible()
  await expect(page.getByRole('link', { name: 'API documentation' })).toHaveAttribute('href', '/docs/')
  await expect(page.locator('pre.code')).toContainText("@app.post('/echo')")
  await page.screenshot({ path: 'test-results/screenshots/lobby.png', fullPage: true })

  await page.getByLabel('Room name').fill(room)
  await page.getByLabel('Room name').press('Enter')
  await expect(page).toHaveURL('/' + encodeURIComponent(room))
  await expect(page.locator('.room-name')).toHaveText(room)
  await expect(page).toHaveTitle(`${room} · NeCSuS`)
  await expect(page.locator('.connection')).toHaveText('Connected')

  // The room is remembered in the lobby.
  await page.goto('/')
  await expect(page.getByRole('link', { name: room })).toHaveAttribute('href', '/' + encodeURIComponent(room))
  await page.getByRole('link', { name: room }).click()
  await expect(page.locator('.room-name')).toHaveText(room)
})

test('the lobby opens a room with the button too, and refuses reserved names', async ({ page }) => {
  await page.goto('/')
  await page.getByRole('button', { name: 'Open room' }).click()
  await expect(page.getByRole('alert')).toContainText('Type a room name')
  await page.getByLabel('Room name').fill('docs')
  await page.getByRole('button', { name: 'Open room' }).click()
  await expect(page.getByRole('alert')).toContainText('used by the server')
  await page.getByLabel('Room name').fill('a/b c')
  await page.getByRole('button', { name: 'Open room' }).click()
  await expect(page).toHaveURL('/a%2Fb%20c')
})

test('the lobby works on a phone-sized screen', async ({ page }) => {
  await page.setViewportSize({ width: 375, height: 700 })
  await page.goto('/')
  await expect(page.getByLabel('Room name')).toBeVisible()
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
  expect(overflow).toBeLessThanOrEqual(0)
  await page.screenshot({ path: 'test-results/screenshots/lobby-phone.png', fullPage: true })
})
