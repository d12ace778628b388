import { test, expect, openRoom, send } from './fixtures.js'

// The browser's speech engines are replaced by recorders: headless Chromium
// has no voices or microphone, and tests must not make noise.
test.beforeEach(async ({ page }) => {
  await page.addInitScript(() => {
    window.spoken = []
    window.SpeechSynthesisUtterance = class {
      constructor(text) {
        this.text = text
      }
    }
    Object.defineProperty(window, 'speechSynthesis', {
      value: { speak: (u) => window.spoken.push(u.text), cancel() {} },
    })
    window.SpeechRecognition = window.webkitSpeechRecognition = class {
      start() {
        setTimeout(() => {
          this.onresult?.({ results: [[{ transcript: 'hello from the microphone' }]] })
          this.onend?.()
        }, 50)
      }
      abort() {
        this.onend?.()
      }
    }
  })
})

test('incoming messages are read aloud as text when speech is on', async ({ page, room, api }) => {
  await api.say(room, 'Bob', 'history is never read')
  await openRoom(page, room, { name: 'Ann' })
  await api.say(room, 'Bob', 'not read: speech is off')
  await expect(page.locator('.message')).toHaveCount(2)
  // The client treats frames until a 300 ms pause after connecting as the
  // replayed history; let that window pass, with room for a loaded machine
  // (nothing on the page shows when it has).
  await page.waitForTimeout(3_000)
  await page.getByRole('button', { name: 'Settings' }).click()
  await page.getByLabel('Read incoming messages aloud').check()
  await api.say(room, 'Bob', 'Look at <b>this</b><script>ignored()</script>!')
  await expect(page.locator('.message')).toHaveCount(3)
  await send(page, 'my own message is not read')
  await expect.poll(() => page.evaluate(() => window.spoken)).toEqual(['Bob says: Look at this!'])
  // The setting is remembered.
  await page.reload()
  await page.getByRole('button', { name: 'Settings' }).click()
  await expect(page.getByLabel('Read incoming messages aloud')).toBeChecked()
  // History replayed on opening is not read out.
  expect(await page.evaluate(() => window.spoken)).toEqual([])
})

test('the microphone button fills the message box', async ({ page, room }) => {
  await openRoom(page, room)
  await expect(page.getByRole('button', { name: 'Speak a message' })).toHaveCount(0)
  await page.getByRole('button', { name: 'Settings' }).click()
  await page.getByLabel(/microphone button/).check()
  await page.getByRole('button', { name: 'Close Settings' }).click()
  await page.getByRole('button', { name: 'Speak a message' }).click()
  await expect(page.locator('#message-input')).toHaveValue('hello from the microphone')
  await expect(page.locator('#message-input')).toBeFocused()
})
