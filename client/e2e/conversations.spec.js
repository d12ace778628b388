import { test, expect, openRoom, send, messageWith } from './fixtures.js'

test("FormBot's buttons deliver the chosen option", async ({ page, room, api, botsUrl }) => {
  await api.addBot(room, 'FormBot', `${botsUrl}/form`)
  await openRoom(page, room)
  await send(page, 'FormBot, dessert time')
  const form = messageWith(page, 'What is your favourite dessert?')
  await form.getByRole('button', { name: 'Ice cream' }).click()
  await expect(messageWith(page, 'You chose ice-cream.')).toBeVisible()
  await expect(messageWith(page, 'You chose ice-cream.').locator('b')).toHaveText('ice-cream')
  await form.getByRole('button', { name: 'Affogato' }).click()
  await expect(messageWith(page, 'You chose affogato.')).toBeVisible()
  // The page did not navigate away.
  await expect(page).toHaveURL('/' + encodeURIComponent(room))
})

test('the debug bot gets the form data of the clicked button', async ({ page, room, api, botsUrl }) => {
  await api.addBot(room, 'DebugBot', `${botsUrl}/debug`)
  await openRoom(page, room, { name: 'Dee' })
  await send(page, 'DebugBot')
  await page.getByRole('button', { name: 'Send a form activation' }).click()
  const second = page.locator('.message.kind-bot').nth(1)
  await expect(second).toContainText('"form_data"')
  await expect(second).toContainText('"pressed": "debug-button"')
  await expect(second).toContainText('"author": "Dee"')
})

test('ping/pong moves the conversation to PongBot', async ({ page, room, api, botsUrl }) => {
  await api.addBot(room, 'PingBot', `${botsUrl}/ping`)
  await api.addBot(room, 'PongBot', `${botsUrl}/pong`)
  await openRoom(page, room)
  await send(page, 'PingBot')
  const leave = page.locator('.conversation .leave')
  await expect(leave).toHaveText('Leave conversation with PingBot')
  await messageWith(page, 'Ping! Where to next?').getByRole('button', { name: 'Pong' }).click()
  await expect(page.locator('.message.kind-bot').last()).toContainText('Pong!')
  await expect(page.locator('.message.kind-bot').last().locator('.author')).toHaveText('PongBot')
  await expect(leave).toHaveText('Leave conversation with PongBot')
  // In the conversation, the next message goes to PongBot only.
  await send(page, 'anything at all')
  await expect(page.locator('.message').last().locator('.author')).toHaveText('PongBot')
  await leave.click()
  await expect(page.locator('.conversation')).toHaveCount(0)
})

test('StateBot shows the leave button, its state, and leaving works', async ({ page, room, api, botsUrl }) => {
  await api.addBot(room, 'StateBot', `${botsUrl}/state`)
  await openRoom(page, room)
  await expect(page.locator('.conversation')).toHaveCount(0)
  await send(page, 'hello StateBot')
  await expect(messageWith(page, 'Message 1 of our conversation')).toBeVisible()
  const leave = page.getByRole('button', { name: 'Leave conversation with StateBot' })
  await expect(leave).toBeVisible()
  // Talking on carries the conversation, without naming the bot.
  await send(page, 'more')
  const second = messageWith(page, 'Message 2 of our conversation')
  await expect(second).toBeVisible()
  const toggle = second.getByRole('button', { name: 'show state' })
  await expect(toggle).toHaveAttribute('aria-expanded', 'false')
  await toggle.click()
  await expect(second.locator('.state-json')).toHaveText(JSON.stringify({ count: 2 }, null, 2))
  await expect(second.getByRole('button', { name: 'hide state' })).toHaveAttribute('aria-expanded', 'true')

  await leave.click()
  await expect(messageWith(page, 'The room state has been cleared')).toBeVisible()
  await expect(page.locator('.conversation')).toHaveCount(0)
  // Out of the conversation, a message without the bot's name gets no reply.
  await send(page, 'more')
  await page.waitForTimeout(300)
  await expect(page.locator('.message').last()).toContainText('more')

  // "stop" ends it from the bot's side.
  await send(page, 'StateBot again')
  await expect(page.getByRole('button', { name: 'Leave conversation with StateBot' })).toBeVisible()
  await send(page, 'stop')
  await expect(messageWith(page, 'Conversation over (no state).')).toBeVisible()
  await expect(page.locator('.conversation')).toHaveCount(0)
})

test('a form whose action no bot in the room has still reaches that URL', async ({ page, room, api, botsUrl }) => {
  await api.addBot(room, 'PingBot', `${botsUrl}/ping`)
  await openRoom(page, room)
  await send(page, 'PingBot')
  await messageWith(page, 'Ping! Where to next?').getByRole('button', { name: 'Nowhere' }).click()
  const reply = messageWith(page, 'You reached nowhere, which keeps talking.')
  await expect(reply).toBeVisible()
  // It replied with state, so the room is now in a conversation with it.
  await expect(page.locator('.conversation .leave')).toHaveText(`Leave conversation with ${await reply.locator('.author').textContent()}`)
  // The server created an "(Auto)" bot for it, which the panel shows.
  await page.getByRole('button', { name: 'Bots' }).click()
  await expect(page.locator('#bots-panel .bot')).toHaveCount(2)
})

test('a message posted while a stateful bot is still answering waits its turn: "1 more message waiting", then both replies in order', async ({ page, room, api, botsUrl }) => {
  // SlowCount sleeps 1 s, then replies "count n (you said …)" with state n
  // (its received state + 1), so the room stays in the conversation.
  await api.addBot(room, 'SlowCount', `${botsUrl}/slowcount`)
  await openRoom(page, room)
  const replies = page.locator('.message.kind-bot .text')
  await api.say(room, 'Ann', 'SlowCount start')
  await expect(replies).toHaveText(['count 1 (you said SlowCount start)'])
  await expect(page.locator('.conversation .leave')).toHaveText('Leave conversation with SlowCount')

  // Record what "… is thinking" says next to the replies shown, at every
  // change: the wait lasts under a second, too short to poll for safely.
  await page.evaluate(() => {
    const region = document.querySelector('.thinking[role="status"]')
    window.thinkingSeen = []
    new MutationObserver(() => {
      window.thinkingSeen.push({
        lines: [...region.querySelectorAll('.thinking-line')].map((p) => p.textContent),
        replies: document.querySelectorAll('.message.kind-bot').length,
      })
    }).observe(document.body, { subtree: true, childList: true, characterData: true })
  })

  const first = api.say(room, 'Ann', 'first')
  await page.waitForTimeout(200)
  const second = api.say(room, 'Ann', 'second')
  await Promise.all([first, second])

  // Both replies, in order, the second counting on from the first's state.
  await expect(replies).toHaveText([
    'count 1 (you said SlowCount start)',
    'count 2 (you said first)',
    'count 3 (you said second)',
  ])
  const last = page.locator('.message.kind-bot').last()
  await last.getByRole('button', { name: 'show state' }).click()
  await expect(last.locator('.state-json')).toHaveText('3')
  await expect(page.locator('.conversation .leave')).toHaveText('Leave conversation with SlowCount')
  // The wait is over: nothing left thinking or waiting.
  await expect(page.locator('.thinking-line')).toHaveCount(0)

  const seen = await page.evaluate(() => window.thinkingSeen)
  const waiting = /^SlowCount is thinking… 1 more message waiting for it( · \d+ s)?$/
  // While the first answer was pending, the bar said one more was waiting…
  expect(
    seen.some((s) => s.replies === 1 && s.lines.length === 1 && waiting.test(s.lines[0])),
    JSON.stringify(seen, null, 1),
  ).toBe(true)
  // …and never more than one (only two messages were sent).
  expect(seen.filter((s) => s.lines.some((l) => /\d+ (more )?messages waiting/.test(l)))).toEqual([])
})
