// Several NeCSuS instances on one PostgreSQL database behind Caddy (the
// committed Caddyfile's round-robin block; see instances-setup.js): two
// browsers whose websockets are held by different instances still chat live,
// and a bot added in one answers the other.
import { test, expect, openRoom, send, messageWith } from './fixtures.js'

const proxyUrl = process.env.NECSUS_MULTI_URL
const instances = JSON.parse(process.env.NECSUS_MULTI_INSTANCES || '[]')

test.skip(!proxyUrl, process.env.NECSUS_MULTI_SKIP || 'the multi-instance servers were not started')

/** Each instance's `necsus_websocket_subscribers`, read from its own /metrics. */
async function subscribers() {
  return Promise.all(
    instances.map(async (url) => {
      const response = await fetch(`${url}/metrics`)
      if (!response.ok) throw new Error(`${url}/metrics → ${response.status}`)
      const match = /^necsus_websocket_subscribers(?:\{[^}]*\})?\s+(\S+)\s*$/m.exec(await response.text())
      if (!match) throw new Error(`${url}/metrics has no necsus_websocket_subscribers line`)
      return Number(match[1])
    }),
  )
}

const sum = (counts) => counts.reduce((a, b) => a + b, 0)

/** Waits until `total` sockets are connected across the instances; returns the counts. */
async function settledSubscribers(total) {
  let counts
  await expect
    .poll(async () => sum((counts = await subscribers())), {
      message: `${total} websocket subscriber(s) across the instances`,
      timeout: 20_000,
    })
    .toBe(total)
  return counts
}

async function newPage(browser) {
  const context = await browser.newContext({ baseURL: proxyUrl })
  const page = await context.newPage()
  page.errors = []
  page.on('pageerror', (e) => page.errors.push(e.message))
  return page
}

test('two browsers on different instances behind Caddy chat live and share a bot', async ({ browser, room, botsUrl }, testInfo) => {
  test.setTimeout(120_000)
  expect(instances).toHaveLength(3)
  expect(await subscribers(), 'no other test uses these instances').toEqual([0, 0, 0])

  // Ann's socket: find the instance holding it.
  const ann = await newPage(browser)
  await openRoom(ann, room, { name: 'Ann' })
  const annCounts = await settledSubscribers(1)
  const annAt = annCounts.indexOf(1)

  // Bob's socket must land elsewhere: reload until round robin puts it on
  // another instance.
  const bob = await newPage(browser)
  let bobAt = -1
  let loads = 0
  while (bobAt < 0) {
    expect(loads, `Bob's websocket stayed on instance ${annAt + 1} with Ann's`).toBeLessThan(12)
    loads += 1
    if (loads === 1) await openRoom(bob, room, { name: 'Bob' })
    else {
      await bob.reload()
      await expect(bob.locator('.connection')).toHaveText('Connected')
    }
    const counts = await settledSubscribers(2)
    expect(counts[annAt], "Ann's socket is still on its instance").toBeGreaterThanOrEqual(1)
    bobAt = counts.findIndex((n, i) => i !== annAt && n === 1)
  }
  testInfo.annotations.push({
    type: 'instances',
    description: `Ann on ${instances[annAt]}, Bob on ${instances[bobAt]} (after ${loads} load(s))`,
  })

  // Messages cross between the instances live, both ways.
  await send(ann, 'hello from Ann')
  await expect(messageWith(bob, 'hello from Ann').locator('.author')).toHaveText('Ann')
  await send(bob, 'hi Ann, Bob here')
  await expect(messageWith(ann, 'hi Ann, Bob here').locator('.author')).toHaveText('Bob')

  // Ann adds EchoBot through the bots panel; Bob's panel shows it live.
  await ann.getByRole('button', { name: 'Bots' }).click()
  await ann.getByRole('button', { name: '+ Add a bot' }).click()
  const row = ann.locator('#bots-panel .bot')
  await expect(row).toHaveCount(1)
  await row.getByLabel('URL').fill(`${botsUrl}/echo`)
  await row.getByLabel('URL').press('Tab')
  await row.getByLabel('Name').fill('EchoBot')
  await row.getByLabel('Name').press('Tab')
  await expect(row.locator('.status')).toHaveText('Saved')
  await bob.getByRole('button', { name: 'Bots' }).click()
  const bobRow = bob.locator('#bots-panel .bot')
  await expect(bobRow).toHaveCount(1)
  await expect(bobRow.getByLabel('Name')).toHaveValue('EchoBot')
  await expect(bobRow.getByLabel('URL')).toHaveValue(`${botsUrl}/echo`)

  // Bob talks to it; both see its answer.
  await send(bob, 'EchoBot, can you hear me?')
  for (const page of [bob, ann]) {
    const reply = messageWith(page, 'Your message was: EchoBot, can you hear me?')
    await expect(reply).toHaveClass(/kind-bot/, { timeout: 30_000 })
    await expect(reply.locator('.author')).toHaveText('EchoBot')
  }
  for (const page of [ann, bob]) await expect(page.locator('.message')).toHaveCount(4)

  // The sockets never moved.
  const counts = await subscribers()
  expect([counts[annAt], counts[bobAt]]).toEqual([1, 1])
  for (const page of [ann, bob]) {
    expect(page.errors, 'uncaught errors in the page').toEqual([])
    await page.context().close()
  }
})
