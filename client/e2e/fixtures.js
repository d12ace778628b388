// Shared fixtures: the servers' addresses, a fresh room per test (with a
// space and a slash in its name), and helpers for the API and the page.
import { test as base, expect } from '@playwright/test'

let counter = 0

export const test = base.extend({
  // Every page of a test fails it on an uncaught script error.
  page: async ({ page }, use) => {
    const errors = []
    page.on('pageerror', (e) => errors.push(e.message))
    await use(page)
    expect(errors, 'uncaught errors in the page').toEqual([])
  },
  baseURL: async ({}, use) => {
    await use(process.env.NECSUS_URL)
  },
  botsUrl: async ({}, use) => {
    await use(process.env.BOTS_URL)
  },
  room: async ({}, use, testInfo) => {
    counter += 1
    const slug = testInfo.title.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 30)
    await use(`e2e ${slug}/${testInfo.workerIndex}-${counter}-${Date.now() % 100000}`)
  },
  api: async ({ request, baseURL }, use) => {
    const call = async (method, path, body) => {
      const response = await request.fetch(`${baseURL}${path}`, { method, data: body })
      const json = await response.json().catch(() => null)
      if (!response.ok()) throw new Error(`${method} ${path} → ${response.status()}: ${JSON.stringify(json)}`)
      return json
    }
    await use({
      addBot: (room, name, url, respondsTo = '') => call('POST', '/api/actions/bot', { room, name, url, responds_to: respondsTo }),
      bots: (room) => call('GET', `/api/bots?room=${encodeURIComponent(room)}`),
      messages: (room) => call('GET', `/api/messages?room=${encodeURIComponent(room)}`),
      say: (room, author, text) => call('POST', '/api/actions/message', { room, author, text }),
    })
  },
})

export { expect }

/** Opens a room page and waits for its websocket. */
export async function openRoom(page, room, { name } = {}) {
  if (name) {
    await page.addInitScript((n) => {
      const key = 'necsus.settings'
      const saved = JSON.parse(localStorage.getItem(key) || '{}')
      if (!saved.name) localStorage.setItem(key, JSON.stringify({ ...saved, name: n }))
    }, name)
  }
  await page.goto('/' + encodeURIComponent(room))
  await expect(page.locator('.connection')).toHaveText('Connected')
}

/** Types a message and presses Enter; waits until the send has finished. */
export async function send(page, text) {
  const input = page.locator('#message-input')
  await input.fill(text)
  await input.press('Enter')
  await expect(input).toBeEnabled({ timeout: 30_000 })
  await expect(input).toHaveValue('')
}

export const messages = (page) => page.locator('.message')
export const messageWith = (page, text) => page.locator('.message', { hasText: text })
