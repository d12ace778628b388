import { test, expect, openRoom, send, messages, messageWith } from './fixtures.js'

test('send a message and see it, as my own', async ({ page, room, api }) => {
  await openRoom(page, room, { name: 'Ann' })
  await expect(page.locator('.message-list')).toBeEmpty()
  await send(page, 'Hello, <b>world</b>!')
  const mine = messageWith(page, 'Hello, world!')
  await expect(mine).toHaveCount(1)
  await expect(mine).toHaveClass(/mine/)
  await expect(mine.locator('.author')).toHaveText('Ann')
  await expect(mine.locator('.when')).toHaveText('just now')
  await expect(mine.locator('.text b')).toHaveText('world')
  const stored = await api.messages(room)
  expect(stored.map((m) => [m.author, m.text])).toEqual([['Ann', 'Hello, <b>world</b>!']])

  // Someone else's message is on the other side.
  await api.say(room, 'Bob', 'hi Ann')
  await expect(messageWith(page, 'hi Ann')).not.toHaveClass(/mine/)
})

test('the input shows progress while bots answer, and arrows walk the history', async ({ page, room, api, botsUrl }) => {
  await api.addBot(room, 'Sleepy', `${botsUrl}/sleep`, '^sleep')
  await openRoom(page, room)
  const input = page.locator('#message-input')
  await input.fill('sleep 2')
  await input.press('Enter')
  await expect(input).toBeDisabled()
  await expect(page.locator('.composer .progress')).toContainText('waiting for the bots')
  await expect(messageWith(page, 'I slept for 2 seconds.')).toBeVisible({ timeout: 15_000 })
  await expect(input).toBeEnabled()
  await expect(input).toBeFocused()
  await expect(page.locator('.composer .progress')).toHaveCount(0)

  await send(page, 'second')
  await send(page, 'third')
  await input.fill('draft')
  await input.press('ArrowUp')
  await expect(input).toHaveValue('third')
  await input.press('ArrowUp')
  await expect(input).toHaveValue('second')
  await input.press('ArrowUp')
  await expect(input).toHaveValue('sleep 2')
  await input.press('ArrowDown')
  await input.press('ArrowDown')
  await expect(input).toHaveValue('third')
  await input.press('ArrowDown')
  await expect(input).toHaveValue('draft')
})

test('messages keep their relative time and older ones load on opening', async ({ page, room, api }) => {
  for (let i = 1; i <= 3; i += 1) await api.say(room, 'Bob', `earlier ${i}`)
  await openRoom(page, room)
  await expect(messages(page)).toHaveCount(3)
  await expect(messages(page).first()).toContainText('earlier 1')
  await expect(messages(page).last()).toContainText('earlier 3')
})

test('the room page works on a phone-sized screen', async ({ page, room, api }) => {
  await page.setViewportSize({ width: 375, height: 700 })
  await api.say(room, 'Bob', 'A long message that must wrap nicely on a narrow phone screen without making the page scroll sideways at all.')
  await openRoom(page, room)
  await send(page, 'from the phone')
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
  expect(overflow).toBeLessThanOrEqual(0)
  await page.getByRole('button', { name: 'Bots' }).click()
  await expect(page.locator('#bots-panel')).toBeVisible()
  await page.keyboard.press('Escape')
  await expect(page.locator('#bots-panel')).toHaveCount(0)
  await expect(page.getByRole('button', { name: 'Bots' })).toBeFocused()
  await page.screenshot({ path: 'test-results/screenshots/room-phone.png' })
})

test('the list follows new messages, unless the reader scrolled up', async ({ page, room, api }) => {
  for (let i = 1; i <= 40; i += 1) await api.say(room, 'Bob', `line ${i}`)
  await openRoom(page, room)
  const list = page.locator('.messages')
  const gap = () => list.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight)
  await expect.poll(gap).toBeLessThan(5)
  await api.say(room, 'Bob', 'line 41')
  await expect(page.locator('.message').last()).toContainText('line 41')
  await expect.poll(gap).toBeLessThan(5)

  // Scrolled up to read: new messages do not move the view. Wait for the
  // scroll event (the page's own handler runs first), not a fixed pause.
  await list.evaluate(
    (el) =>
      new Promise((resolve) => {
        el.addEventListener('scroll', () => resolve(), { once: true })
        el.scrollTo(0, 0)
      }),
  )
  await api.say(room, 'Bob', 'line 42')
  await expect(page.locator('.message').last()).toContainText('line 42')
  expect(await list.evaluate((el) => el.scrollTop)).toBe(0)
  const jump = page.getByRole('button', { name: /1 new message/ })
  await expect(jump).toBeVisible()
  await jump.click()
  await expect.poll(gap).toBeLessThan(5)
  await expect(jump).toHaveCount(0)
})

test('relative times refresh as time passes', async ({ page, room, api }) => {
  await page.clock.install()
  await api.say(room, 'Bob', 'tick tock')
  await openRoom(page, room)
  const when = page.locator('.message .when')
  await expect(when).toHaveText('just now')
  await expect(when).toHaveAttribute('datetime', /^\d{4}-\d\d-\d\dT/)
  await page.clock.fastForward('03:05')
  await expect(when).toHaveText('3 minutes ago')
  await page.clock.fastForward('02:00:00')
  await expect(when).toHaveText('2 hours ago')
})
