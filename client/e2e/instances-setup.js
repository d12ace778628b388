// Part of the global setup, for instances.spec.js: three NeCSuS instances on
// one fresh PostgreSQL database behind Caddy, configured from the committed
// Caddyfile's commented "Several instances on one PostgreSQL" block.
//
// The database lives in the cluster named by NECSUS_TEST_POSTGRES (an
// administrator URL, as tests/run-all.sh exports) or, without it, in a
// throwaway cluster started here with tests/pg-cluster.sh. When PostgreSQL
// or Caddy is missing the tests are skipped with a loud message, unless CI
// is set: then the run fails.
//
// Hands the tests NECSUS_MULTI_URL (Caddy) and NECSUS_MULTI_INSTANCES (a
// JSON list of the instances' own addresses), or NECSUS_MULTI_SKIP (why
// not). Returns the function that stops everything it started.
import { execFile, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort, startLogged, stopAll, waitFor } from './processes.js'

const run = promisify(execFile)
const INSTANCES = 3

/**
 * The Caddyfile's commented multi-instance block, uncommented, listening on
 * `proxyPort` (loopback only) with `upstreamPorts` in place of 6277-6279,
 * and the admin endpoint off.
 */
export function multiInstanceCaddyfile(text, proxyPort, upstreamPorts) {
  const lines = text.split('\n')
  const intro = lines.findIndex((l) => l.startsWith('# Several instances on one PostgreSQL'))
  const open = lines.findIndex((l, i) => intro >= 0 && i > intro && /^# ?:8000 \{\s*$/.test(l))
  const close = lines.findIndex((l, i) => open >= 0 && i > open && /^# ?\}\s*$/.test(l))
  if (close < 0) {
    throw new Error('the Caddyfile has no commented ":8000 { … }" block after "# Several instances on one PostgreSQL"')
  }
  const block = lines
    .slice(open, close + 1)
    .map((l) => l.replace(/^# ?/, ''))
    .join('\n')
  const committed = ['127.0.0.1:6277', '127.0.0.1:6278', '127.0.0.1:6279']
  for (const upstream of committed) {
    if (!block.includes(upstream)) throw new Error(`the Caddyfile's multi-instance block does not name ${upstream}`)
  }
  // One pass, so a new port can never be mistaken for a committed one.
  const config = block
    .replace(/^:8000 \{/, `:${proxyPort} {`)
    .replace(/127\.0\.0\.1:(6277|6278|6279)\b/g, (_, port) => `127.0.0.1:${upstreamPorts[Number(port) - 6277]}`)
  return `{\n\tadmin off\n\tdefault_bind 127.0.0.1\n}\n${config}\n`
}

function loud(lines) {
  console.error(['', '!'.repeat(78), ...lines.map((l) => `!!! ${l}`), '!'.repeat(78), ''].join('\n'))
}

/** `postgres://user@host/db?query` with the database replaced. */
function withDatabase(url, db) {
  const match = /^(postgres(?:ql)?:\/\/[^/?#]*)(\/[^?#]*)?(.*)$/.exec(url)
  if (!match) throw new Error(`not a postgres:// URL: ${url}`)
  return `${match[1]}/${db}${match[3]}`
}

const psql = (url, sql) => run('psql', [url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], { timeout: 60_000 })

export async function startInstances({ necsusBin, work, repoDir }) {
  const cleanups = [] // run in reverse order by stop()
  const children = []
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    await stopAll(children)
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup()
      } catch (e) {
        console.error(`[e2e] instances teardown: ${e.message}`)
      }
    }
  }

  const unavailable = async (what, detail) => {
    await stop()
    if (process.env.CI) {
      throw new Error(`${what} and CI is set: the multi-instance browser test may not be skipped.\n${detail}`)
    }
    loud([
      `SKIPPING the multi-instance browser test (instances.spec.js): ${what}.`,
      ...detail.trim().split('\n').slice(-6),
    ])
    process.env.NECSUS_MULTI_SKIP = `${what} (see the global setup's message)`
    return stop
  }

  const caddyCheck = spawnSync('caddy', ['version'], { encoding: 'utf8' })
  if (caddyCheck.error || caddyCheck.status !== 0) {
    return unavailable('caddy is not installed', 'Install it with: apt-get install caddy')
  }

  // The cluster: given, or a throwaway one.
  let admin = process.env.NECSUS_TEST_POSTGRES
  let cluster = 'NECSUS_TEST_POSTGRES'
  if (!admin) {
    // Short, so the Unix socket's path stays under its length limit.
    const base = tmpdir().length > 40 ? '/tmp' : tmpdir()
    const pgDir = mkdtempSync(join(base, 'necsus-e2e-pg-'))
    const script = join(repoDir, 'tests', 'pg-cluster.sh')
    const env = { ...process.env, NECSUS_TEST_PG_DIR: pgDir }
    cleanups.push(async () => {
      await run(script, ['stop'], { env, timeout: 60_000 })
      if (process.env.NECSUS_E2E_KEEP) console.log(`[e2e] PostgreSQL cluster (stopped) kept in ${pgDir}`)
      else rmSync(pgDir, { recursive: true, force: true })
    })
    try {
      const { stdout } = await run(script, ['start'], { env, timeout: 120_000 })
      admin = stdout.trim().split('\n').at(-1)
      cluster = `a throwaway cluster in ${pgDir}`
    } catch (e) {
      const log = (() => {
        try {
          return readFileSync(join(pgDir, 'initdb.log'), 'utf8')
        } catch {
          return ''
        }
      })()
      return unavailable('PostgreSQL could not be started (tests/pg-cluster.sh start)', `${e.stderr || e.message}\n${log}`)
    }
  }

  const db = `necsus_e2e_${process.pid}_${Date.now().toString(36)}`
  try {
    await psql(admin, `CREATE DATABASE ${db}`)
  } catch (e) {
    return unavailable(`PostgreSQL at ${admin} did not create a database`, e.stderr || e.message)
  }
  if (cluster === 'NECSUS_TEST_POSTGRES' && !process.env.NECSUS_E2E_KEEP) {
    cleanups.push(() => psql(admin, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`))
  }
  const dbUrl = withDatabase(admin, db)

  try {
    const dir = join(work, 'instances')
    mkdirSync(dir, { recursive: true })
    const ports = []
    for (let i = 0; i < INSTANCES; i += 1) ports.push(await freePort())
    // All at once, as an operator would start them; the migrations take a lock.
    const instances = ports.map((port, i) => {
      const log = join(dir, `necsus-${i + 1}.log`)
      const child = startLogged(
        necsusBin,
        // Behind Caddy every request is a remote student's, and the example
        // bots run on this machine: the tutor allows loopback for them.
        [
          '--db', dbUrl, '--bind', `127.0.0.1:${port}`, '--room-rate-limit', '0', '--bot-timeout', '20',
          '--allow-bot-networks', '127.0.0.0/8',
        ],
        log,
        { NECSUS_LOG: 'info' },
      )
      children.push(child)
      return { child, log, url: `http://127.0.0.1:${port}` }
    })
    await Promise.all(instances.map((s, i) => waitFor(`${s.url}/healthz`, s.child, `necsus instance ${i + 1}`, s.log)))

    const proxyPort = await freePort()
    const caddyDir = join(dir, 'caddy')
    mkdirSync(caddyDir, { recursive: true })
    const caddyfile = join(caddyDir, 'Caddyfile')
    writeFileSync(caddyfile, multiInstanceCaddyfile(readFileSync(join(repoDir, 'Caddyfile'), 'utf8'), proxyPort, ports))
    const caddyLog = join(dir, 'caddy.log')
    const caddy = startLogged('caddy', ['run', '--adapter', 'caddyfile', '--config', caddyfile], caddyLog, {
      HOME: caddyDir,
      XDG_DATA_HOME: caddyDir,
      XDG_CONFIG_HOME: caddyDir,
    })
    children.push(caddy)
    const proxyUrl = `http://127.0.0.1:${proxyPort}`
    await waitFor(`${proxyUrl}/healthz`, caddy, 'caddy', caddyLog)

    process.env.NECSUS_MULTI_URL = proxyUrl
    process.env.NECSUS_MULTI_INSTANCES = JSON.stringify(instances.map((s) => s.url))
    console.log(
      `[e2e] caddy on ${proxyUrl} in front of ${instances.map((s) => s.url).join(', ')}, ` +
        `database ${db} in ${cluster} (logs in ${dir})`,
    )
  } catch (e) {
    process.env.NECSUS_E2E_KEEP = '1'
    await stop()
    throw e
  }
  return stop
}
