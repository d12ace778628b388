// Starts the real NeCSuS server (temporary database) and the example bots
// server on free 127.0.0.1 ports, waits until both answer, and hands their
// addresses to the tests through NECSUS_URL and BOTS_URL. The returned
// function stops them.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, openSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const clientDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')

function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer()
    server.on('error', fail)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => ok(port))
    })
  })
}

async function waitFor(url, child, name, logFile) {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`${name} exited with code ${child.exitCode} while starting; see ${logFile}`)
    }
    try {
      const response = await fetch(url)
      if (response.ok) return
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${name} did not answer ${url} within 30 s; see ${logFile}`)
}

function binary(envName, fallback) {
  const path = process.env[envName] || resolve(clientDir, fallback)
  if (!existsSync(path)) {
    throw new Error(
      `${path} does not exist: build the server first (cargo build in the repository root), ` +
        `or set ${envName} to the binary.`,
    )
  }
  return path
}

export default async function globalSetup() {
  const necsusBin = binary('NECSUS_BIN', '../target/debug/necsus')
  const botsBin = binary('EXAMPLE_BOTS_BIN', '../target/debug/example_bots')
  if (!existsSync(join(clientDir, 'dist', 'index.html'))) {
    throw new Error('client/dist is missing: run `npm run build` before the browser tests.')
  }

  const work = mkdtempSync(join(tmpdir(), 'necsus-e2e-'))
  const [necsusPort, botsPort] = [await freePort(), await freePort()]
  const necsusLog = join(work, 'necsus.log')
  const botsLog = join(work, 'example_bots.log')

  const start = (bin, args, log) => {
    const fd = openSync(log, 'a')
    return spawn(bin, args, { stdio: ['ignore', fd, fd], env: { ...process.env, NECSUS_LOG: 'info' } })
  }
  const necsus = start(
    necsusBin,
    ['--bind', `127.0.0.1:${necsusPort}`, '--db', join(work, 'necsus.db'), '--bot-timeout', '20'],
    necsusLog,
  )
  const bots = start(botsBin, ['--bind', `127.0.0.1:${botsPort}`], botsLog)

  const stop = async () => {
    for (const child of [necsus, bots]) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    }
    await Promise.all(
      [necsus, bots].map(
        (child) =>
          new Promise((r) => {
            if (child.exitCode !== null || child.signalCode !== null) return r()
            const t = setTimeout(() => {
              child.kill('SIGKILL')
              r()
            }, 5000)
            child.once('exit', () => {
              clearTimeout(t)
              r()
            })
          }),
      ),
    )
    if (process.env.NECSUS_E2E_KEEP) {
      console.log(`[e2e] server logs kept in ${work}`)
    } else {
      rmSync(work, { recursive: true, force: true })
    }
  }

  try {
    await waitFor(`http://127.0.0.1:${necsusPort}/healthz`, necsus, 'necsus', necsusLog)
    await waitFor(`http://127.0.0.1:${botsPort}/`, bots, 'example_bots', botsLog)
  } catch (e) {
    process.env.NECSUS_E2E_KEEP = '1'
    await stop()
    throw e
  }

  process.env.NECSUS_URL = `http://127.0.0.1:${necsusPort}`
  process.env.BOTS_URL = `http://127.0.0.1:${botsPort}`
  console.log(`[e2e] necsus on ${process.env.NECSUS_URL}, example bots on ${process.env.BOTS_URL} (logs in ${work})`)
  return stop
}
