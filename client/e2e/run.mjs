// `npm run test:e2e`: runs the Playwright tests, or, when Debian's Chromium
// is missing, says so loudly and skips them (CI never skips: it fails).
import { existsSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'

const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium'

if (!existsSync(chromium)) {
  const lines = [
    '',
    '!'.repeat(78),
    `!!! SKIPPING the browser tests: ${chromium} is not installed.`,
    '!!! Install it with: apt-get update && apt-get install -y chromium',
    '!!! (or point CHROMIUM_PATH at a Chromium binary).',
    '!'.repeat(78),
    '',
  ]
  console.error(lines.join('\n'))
  if (process.env.CI) {
    console.error('CI is set: the browser tests may not be skipped, failing.')
    process.exit(1)
  }
  process.exit(0)
}

const require = createRequire(import.meta.url)
const cli = require.resolve('@playwright/test/cli')
const result = spawnSync(process.execPath, [cli, 'test', ...process.argv.slice(2)], { stdio: 'inherit' })
process.exit(result.status ?? 1)
