// Browser tests against the real NeCSuS server and example bots, which the
// global setup starts on free loopback ports. Chromium is Debian's
// (/usr/bin/chromium): Playwright never downloads a browser here.
import { defineConfig } from '@playwright/test'

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'

export default defineConfig({
  testDir: './e2e',
  testMatch: '**/*.spec.js',
  outputDir: './test-results',
  globalSetup: './e2e/global-setup.js',
  timeout: 45_000,
  expect: { timeout: 10_000 },
  fullyParallel: true,
  workers: 2,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    headless: true,
    viewport: { width: 1280, height: 800 },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--autoplay-policy=no-user-gesture-required',
      ],
    },
  },
})
