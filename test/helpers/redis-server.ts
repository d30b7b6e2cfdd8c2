/**
 * A real `redis-server` for the cluster tests: started from PATH on a free loopback port, in a
 * temp folder of its own, with the append-only file on so a stop and start keeps every stream.
 * Without the binary the suites skip with a loud message, or fail when OUTRIGGER_REQUIRE_REDIS=1
 * (CI), like the dashboard's browser tests. With `{ tls }` it listens for TLS only, with
 * certificates of a throwaway CA (the `openssl` CLI is then needed too).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import net from 'node:net'
import tls from 'node:tls'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { HAVE_OPENSSL, makeCertificates, MISSING_OPENSSL, type TlsFiles } from './tls-certs.js'
import { until } from './wait.js'

export const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0
const REQUIRE_REDIS = process.env.OUTRIGGER_REQUIRE_REDIS === '1'
const MISSING = 'no redis-server on PATH: install Debian\'s redis-server (apt-get install -y redis-server) to run the cluster tests'

/** `false` when the cluster suites run, else the reason they skip (printed loudly once). */
export const SKIP_REDIS: string | false = HAVE_REDIS || REQUIRE_REDIS ? false : MISSING
if (SKIP_REDIS) loudly(SKIP_REDIS)

function loudly(why: string): void {
  process.stderr.write(`\n${'!'.repeat(100)}\n!! SKIPPED: ${why}\n${'!'.repeat(100)}\n\n`)
}

/** As SKIP_REDIS, for the suites that also need `openssl` (TLS); says so loudly when it skips. */
export function skipRedisTls(): string | false {
  if (SKIP_REDIS) return SKIP_REDIS
  if (HAVE_OPENSSL || REQUIRE_REDIS) return false
  loudly(MISSING_OPENSSL)
  return MISSING_OPENSSL
}

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

/** Whether a server answers PING on `port`: over plain TCP, or over TLS trusting `ca` when given. */
function answers(port: number, secure?: tls.ConnectionOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const c = secure ? tls.connect({ ...secure, port, host: '127.0.0.1' }) : net.connect(port, '127.0.0.1')
    c.once(secure ? 'secureConnect' : 'connect', () => c.write('PING\r\n'))
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

  private constructor(readonly dir: string, readonly port: number, private readonly args: string[], readonly tls: TlsFiles | undefined, private readonly authClients: boolean) {}

  /**
   * Starts a server; `args` are extra `redis-server` options (e.g. `['--requirepass', 's3cret']`).
   * `tls`: TLS only, on `port`; `authClients` also requires a client certificate signed by the CA.
   */
  static async start(args: string[] = [], opts: { tls?: boolean | { authClients: boolean } } = {}): Promise<RedisServer> {
    if (!HAVE_REDIS) throw new Error(`OUTRIGGER_REQUIRE_REDIS=1 but ${MISSING}`)
    const dir = await mkdtemp(path.join(tmpdir(), 'rig-redis-'))
    const files = opts.tls ? await makeCertificates(dir) : undefined
    const authClients = typeof opts.tls === 'object' && opts.tls.authClients
    const server = new RedisServer(dir, await freePort(), args, files, authClients)
    await server.resume()
    return server
  }

  get url(): string {
    return `${this.tls ? 'rediss' : 'redis'}://127.0.0.1:${this.port}`
  }

  private listen(): string[] {
    if (!this.tls) return ['--port', String(this.port)]
    const t = this.tls
    return ['--port', '0', '--tls-port', String(this.port), '--tls-cert-file', t.cert, '--tls-key-file', t.key, '--tls-ca-cert-file', t.ca, '--tls-auth-clients', this.authClients ? 'yes' : 'no']
  }

  /** What the readiness probe needs to speak TLS to this server (undefined: plain TCP). */
  private async probe(): Promise<tls.ConnectionOptions | undefined> {
    if (!this.tls) return undefined
    const t = this.tls
    return { ca: await readFile(t.ca), ...(this.authClients ? { cert: await readFile(t.clientCert), key: await readFile(t.clientKey) } : {}) }
  }

  /** (Re)starts the server on the same port and folder: what it persisted comes back. */
  async resume(): Promise<void> {
    const child = spawn(
      'redis-server',
      [...this.listen(), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--maxmemory-policy', 'noeviction', ...this.args],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    )
    this.child = child
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()))
    const secure = await this.probe()
    await until(`redis-server answers on port ${this.port}`, () => (child.exitCode !== null ? Promise.reject(new Error(`redis-server exited with ${child.exitCode}`)) : answers(this.port, secure)), 20_000)
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
