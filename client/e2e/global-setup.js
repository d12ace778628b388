// Starts the real NeCSuS server (temporary database) and the example bots
// server on free 127.0.0.1 ports, waits until both answer, and hands their
// addresses to the tests through NECSUS_URL and BOTS_URL; then, for
// instances.spec.js, three instances on one PostgreSQL database behind Caddy
// (instances-setup.js). The returned function stops them all.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startInstances } from './instances-setup.js'
import { freePort, startLogged, stopAll, waitFor } from './processes.js'

const clientDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')

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

  const start = (bin, args, log) => startLogged(bin, args, log, { NECSUS_LOG: 'info' })
  const necsus = start(
    necsusBin,
    ['--bind', `127.0.0.1:${necsusPort}`, '--db', join(work, 'necsus.db'), '--bot-timeout', '20'],
    necsusLog,
  )
  const bots = start(botsBin, ['--bind', `127.0.0.1:${botsPort}`], botsLog)

  let stopInstances = async () => {}
  const stop = async () => {
    await stopInstances()
    await stopAll([necsus, bots])
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

  // Several instances on one PostgreSQL behind Caddy (instances.spec.js).
  try {
    // The instances run the release binary when one is given, as tutors do.
    const instancesBin = process.env.NECSUS_INSTANCES_BIN || necsusBin
    stopInstances = await startInstances({ necsusBin: instancesBin, work, repoDir: resolve(clientDir, '..') })
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
