/**
 * A real `redis-server` for the cluster tests: started from PATH on a free loopback port, in a
 * temp folder of its own, with the append-only file on so a stop and start keeps every stream.
 * Without the binary the suites skip with a loud message, or fail when OUTRIGGER_REQUIRE_REDIS=1
 * (CI), like the dashboard's browser tests.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { until } from './wait.js'

export const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0
const REQUIRE_REDIS = process.env.OUTRIGGER_REQUIRE_REDIS === '1'
const MISSING = 'no redis-server on PATH: install Debian\'s redis-server (apt-get install -y redis-server) to run the cluster tests'

/** `false` when the cluster suites run, else the reason they skip (printed loudly once). */
export const SKIP_REDIS: string | false = HAVE_REDIS || REQUIRE_REDIS ? false : MISSING
if (SKIP_REDIS) process.stderr.write(`\n${'!'.repeat(100)}\n!! SKIPPED: ${SKIP_REDIS}\n${'!'.repeat(100)}\n\n`)

/** A free loopback port: bound by the system, then released. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1')
    c.once('connect', () => c.write('PING\r\n'))
    c.once('data', (d) => {
      c.destroy()
      resolve(/^(\+PONG|-NOAUTH)/.test(d.toString()))
    })
    c.once('error', () => resolve(false))
  })
}

export class RedisServer {
  private child: ChildProcess | undefined
  private exited: Promise<void> = Promise.resolve()

  private constructor(readonly dir: string, readonly port: number, private readonly args: string[]) {}

  /** Starts a server; `args` are extra `redis-server` options (e.g. `['--requirepass', 's3cret']`). */
  static async start(args: string[] = []): Promise<RedisServer> {
    if (!HAVE_REDIS) throw new Error(`OUTRIGGER_REQUIRE_REDIS=1 but ${MISSING}`)
    const dir = await mkdtemp(path.join(tmpdir(), 'rig-redis-'))
    const server = new RedisServer(dir, await freePort(), args)
    await server.resume()
    return server
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** (Re)starts the server on the same port and folder: what it persisted comes back. */
  async resume(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--maxmemory-policy', 'noeviction', ...this.args],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    )
    this.child = child
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()))
    await until(`redis-server answers on port ${this.port}`, () => (child.exitCode !== null ? Promise.reject(new Error(`redis-server exited with ${child.exitCode}`)) : answers(this.port)), 20_000)
  }

  /** A graceful stop (SIGTERM: the append-only file is flushed), waiting until it exited. */
  async pause(): Promise<void> {
    this.child?.kill('SIGTERM')
    await this.exited
    this.child = undefined
  }

  async stop(): Promise<void> {
    await this.pause()
    await rm(this.dir, { recursive: true, force: true })
  }
}
