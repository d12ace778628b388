// Helpers shared by the global setup's parts: free loopback ports, starting
// a server with its output in a log file, waiting until it answers, and
// stopping servers (SIGTERM, then SIGKILL after 5 s).
import { spawn } from 'node:child_process'
import { openSync } from 'node:fs'
import { createServer } from 'node:net'

export function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer()
    server.on('error', fail)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => ok(port))
    })
  })
}

/** Starts `bin` with stdout and stderr appended to `log`. */
export function startLogged(bin, args, log, env = {}) {
  const fd = openSync(log, 'a')
  return spawn(bin, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } })
}

export async function waitFor(url, child, name, logFile, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) while starting; see ${logFile}`)
    }
    try {
      const response = await fetch(url)
      if (response.ok) return
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${name} did not answer ${url} within ${timeoutMs / 1000} s; see ${logFile}`)
}

/** SIGTERM to each child still running, SIGKILL to those not gone after 5 s. */
export async function stopAll(children) {
  const running = (child) => child.exitCode === null && child.signalCode === null
  for (const child of children) if (running(child)) child.kill('SIGTERM')
  await Promise.all(
    children.map(
      (child) =>
        new Promise((r) => {
          if (!running(child)) return r()
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
}
