/**
 * Cluster mode over TLS, for real: a redis-server that listens for TLS only, with a certificate of
 * a throwaway private CA and an ACL user, and `outrigger start` processes that reach it through a
 * `rediss://` URL. The CA is trusted through `cluster.tls.ca` (or NODE_EXTRA_CA_CERTS); without
 * it the start fails with the certificate error and its fix; a bad `cluster.tls` is refused; a
 * server that requires client certificates gets one from `cluster.tls.cert`/`key`. The password
 * is never printed.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, afterEach, before, describe, it } from 'node:test'
import type { ClusterReport } from '../src/cluster/report-types.js'
import { isOutriggerError } from '../src/errors.js'
import { addPump, addRecorder, readSeen, tally } from './helpers/cluster.js'
import { collect, rig, spawnCli } from './helpers/cli-run.js'
import { PluginDir } from './helpers/plugins.js'
import { RedisServer, skipRedisTls } from './helpers/redis-server.js'
import { until } from './helpers/wait.js'

const PASSWORD = 'tls-hunter2-s3cret'
/** The ACL rule of docs/cluster.md, and the default user off: only `rig` gets in. */
const ACL = ['--user', 'rig', 'on', `>${PASSWORD}`, '~outrigger:*', '+@stream', '+@string', '+@set', '+@keyspace', '+@scripting', '+@transaction', '+@hash', '+time', '+ping', '+client', '+info', '--user', 'default', 'off']

interface Node {
  app: string
  child: ChildProcess
  io: ReturnType<typeof collect>
  runtimeDir: string
}

let n = 0
const clusterName = () => `tls${process.pid}-${n++}`

describe('cluster mode over TLS (rediss://)', { skip: skipRedisTls() }, () => {
  let redis: RedisServer
  let url: string
  let out: string | undefined
  const nodes: Node[] = []
  const dirs: PluginDir[] = []

  before(async () => {
    redis = await RedisServer.start(ACL, { tls: true })
    url = `rediss://rig:${PASSWORD}@127.0.0.1:${redis.port}`
  })
  afterEach(async () => {
    for (const x of nodes.splice(0)) {
      if (x.child.exitCode === null && x.child.signalCode === null) x.child.kill('SIGKILL')
      await x.io.exited
    }
    await Promise.all(dirs.splice(0).map((d) => d.remove()))
    if (out) await rm(out, { recursive: true, force: true })
    out = undefined
  })
  after(() => redis?.stop())

  async function folder(): Promise<PluginDir> {
    const dir = await PluginDir.create()
    dirs.push(dir)
    return dir
  }

  /** `outrigger start` on `dir` with `config`, its output collected. */
  async function spawn(dir: PluginDir, config: object, opts: { args?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<Node> {
    const app = `tls-${process.pid}-${n++}`
    const { child, io, runtimeDir } = await spawnCli(dir.root, app, config, opts)
    const node = { app, child, io, runtimeDir }
    nodes.push(node)
    return node
  }

  async function running(x: Node): Promise<void> {
    await until(`${x.app} runs`, () => /running: /.test(x.io.out()) || (x.child.exitCode !== null && Promise.reject(new Error(`${x.app} exited: ${x.io.out()}`))), 60_000)
  }

  /** Waits until the process exited and all its output was read; resolves with its exit code. */
  async function exited(x: Node): Promise<number | null> {
    await until(`${x.app} exits`, () => x.child.exitCode !== null && x.child.stdout!.readableEnded && x.child.stderr!.readableEnded, 60_000)
    return x.child.exitCode
  }

  async function clusterStatus(x: Node): Promise<ClusterReport> {
    const r = await rig(['status', '--cluster', '--json', '--app', x.app], { runtimeDir: x.runtimeDir })
    assert.equal(r.code, 0, r.stderr)
    return JSON.parse(r.stdout) as ClusterReport
  }

  it('runs a cluster plugin\'s events through rediss:// with cluster.tls.ca and an ACL user, showing only the redacted URL', async () => {
    out = await mkdtemp(path.join(tmpdir(), 'rig-tls-out-'))
    const dir = await folder()
    await addRecorder(dir, 'rec', out)
    await addPump(dir)
    // The CA beside the config, named relative to it: the process runs from another folder.
    await mkdir(path.join(dir.root, 'certs'))
    await copyFile(redis.tls!.ca, path.join(dir.root, 'certs', 'ca.pem'))
    const a = await spawn(dir, { logLevel: 'info', cluster: { redis: url, name: clusterName(), nodeId: 'a', beatMs: 200, tls: { ca: 'certs/ca.pem' } } })
    await running(a)

    const total = 300
    const go = await rig(['emit', 'pump:go', JSON.stringify({ n: total }), '--app', a.app], { runtimeDir: a.runtimeDir })
    assert.equal(go.code, 0, go.stderr)
    await until('every event is processed', async () => tally(await readSeen(out!), total).distinct === total, 60_000)
    const report = await until('nothing pending or unread in the group', async () => {
      const r = await clusterStatus(a)
      return r.plugins[0]?.pending === 0 && r.plugins[0].lag === 0 && r
    }, 30_000)
    const redacted = `rediss://rig:***@127.0.0.1:${redis.port}`
    assert.equal(report.redis, redacted)
    assert.equal(report.link.connected, true)
    assert.equal(report.plugins[0].name, 'rec')
    assert.equal(report.plugins[0].length, total)
    assert.deepEqual(report.nodes.map((x) => x.id), ['a'])
    const table = await rig(['status', '--cluster', '--app', a.app], { runtimeDir: a.runtimeDir })
    assert.equal(table.code, 0, table.stderr)
    assert.ok(table.stdout.includes(redacted), table.stdout)

    a.child.kill('SIGTERM')
    assert.equal(await exited(a), 0, a.io.out())
    const log = a.io.out()
    assert.ok(log.includes(`connected to ${redacted} as node`), log)
    assert.doesNotMatch(log, /NOPERM/)
    // The documented ACL rule lets ioredis run its ready check (INFO) instead of warning about it.
    assert.doesNotMatch(log, /Skipping the ready check/)
    const printed = log + table.stdout + table.stderr + JSON.stringify(report) + go.stdout + go.stderr
    assert.ok(!printed.includes(PASSWORD), 'the password was printed')
  })

  it('trusts the private CA through NODE_EXTRA_CA_CERTS with --cluster and no cluster.tls', async () => {
    const dir = await folder()
    const b = await spawn(dir, {}, { args: ['--cluster', url], env: { NODE_EXTRA_CA_CERTS: redis.tls!.ca } })
    await running(b)
    const report = await until('the node is listed', async () => {
      const r = await clusterStatus(b)
      return r.nodes.length > 0 && r
    }, 30_000)
    assert.equal(report.link.connected, true)
    assert.equal(report.redis, `rediss://rig:***@127.0.0.1:${redis.port}`)
    assert.ok(!b.io.out().includes(PASSWORD), 'the password was printed')
  })

  it('fails the start with the certificate error and its fix when the CA is not trusted, never printing the password', async () => {
    const dir = await folder()
    const c = await spawn(dir, { cluster: { redis: url, name: clusterName(), nodeId: 'c', beatMs: 200 } })
    assert.equal(await exited(c), 1, c.io.out())
    const said = c.io.out()
    assert.match(said, /RIG_ERR_CLUSTER_UNREACHABLE/)
    assert.match(said, /self-signed certificate in certificate chain \(SELF_SIGNED_CERT_IN_CHAIN\)/)
    assert.match(said, /Set cluster\.tls\.ca to the PEM file of the CA that signed it/)
    assert.match(said, /NODE_EXTRA_CA_CERTS/)
    assert.ok(said.includes(`rediss://rig:***@127.0.0.1:${redis.port}`), said)
    assert.ok(!said.includes(PASSWORD), 'the password was printed')
    assert.doesNotMatch(said, /running: /)

    // A certificate that does not name the host asked for: the same refusal, naming servername.
    const wrongName = (await folder()).start({ config: { cluster: { redis: url, name: clusterName(), tls: { ca: redis.tls!.ca, servername: 'wrong.example' } } } })
    await assert.rejects(wrongName, (e: unknown) => isOutriggerError(e) && e.code === 'RIG_ERR_CLUSTER_UNREACHABLE' && /wrong\.example\. is not in the cert's altnames/.test(e.message) && /cluster\.tls\.servername/.test(e.message) && !e.message.includes(PASSWORD))
  })

  it('refuses a cluster.tls.ca that cannot be read, naming the field, the path and the fix', async () => {
    const dir = await folder()
    const d = await spawn(dir, { cluster: { redis: url, name: clusterName(), tls: { ca: 'certs/missing.pem' } } })
    assert.equal(await exited(d), 1, d.io.out())
    const said = d.io.out()
    assert.match(said, /RIG_ERR_CONFIG_INVALID: cluster\.tls\.ca: cannot read /)
    assert.ok(said.includes(path.join(dir.root, 'certs', 'missing.pem')), said)
    assert.match(said, /ENOENT/)
    assert.match(said, /set cluster\.tls\.ca to the PEM file of the CA that signed the Redis server's certificate; a relative path is resolved against the config file's folder/)
    assert.ok(!said.includes(PASSWORD), 'the password was printed')

    // In-process: a file that is not PEM, certificates with a plain-text URL, a cert without its key.
    const notPem = path.join(dir.root, 'not.pem')
    await writeFile(notPem, 'hello\n')
    const refused = (cluster: { redis: string; tls: object }, re: RegExp) =>
      assert.rejects(dir.start({ config: { cluster: { name: clusterName(), ...cluster } } }), (e: unknown) => isOutriggerError(e) && e.code === 'RIG_ERR_CONFIG_INVALID' && re.test(e.message) && !e.message.includes(PASSWORD))
    await refused({ redis: url, tls: { ca: notPem } }, /cluster\.tls\.ca: .*not\.pem is not PEM/)
    await refused({ redis: `redis://rig:${PASSWORD}@127.0.0.1:${redis.port}`, tls: { ca: redis.tls!.ca } }, /redis: a "rediss:\/\/" URL: cluster\.tls is set/)
    await refused({ redis: url, tls: { ca: redis.tls!.ca, cert: redis.tls!.clientCert } }, /tls: `cert` and `key` go together/)
  })
})

describe('cluster mode over TLS with client certificates', { skip: skipRedisTls() }, () => {
  let redis: RedisServer
  const dirs: PluginDir[] = []
  before(async () => {
    redis = await RedisServer.start([], { tls: { authClients: true } })
  })
  afterEach(() => Promise.all(dirs.splice(0).map((d) => d.remove())))
  after(() => redis?.stop())

  it('presents cluster.tls.cert and key to a server that requires them, and names them when missing', async () => {
    const dir = await PluginDir.create()
    dirs.push(dir)
    const t = redis.tls!
    const sup = await dir.start({ config: { cluster: { redis: redis.url, name: clusterName(), nodeId: 'm', beatMs: 200, tls: { ca: t.ca, cert: t.clientCert, key: t.clientKey } } } })
    const report = await until('the node is listed', async () => {
      const r = await sup.clusterStatus()
      return r.nodes.length > 0 && r
    }, 30_000)
    assert.equal(report.link.connected, true)
    assert.deepEqual(report.nodes.map((x) => x.id), ['m'])

    // Without a client certificate the server resets the connection, which alone cannot tell why
    // (a reset may pass): the start waits its limit, then fails naming what to set.
    const bare = await PluginDir.create()
    dirs.push(bare)
    await assert.rejects(
      bare.start({ config: { cluster: { redis: redis.url, name: clusterName(), tls: { ca: t.ca } } } }),
      (e: unknown) => isOutriggerError(e) && e.code === 'RIG_ERR_CLUSTER_UNREACHABLE' && /Redis at rediss:\/\/127\.0\.0\.1:\d+ did not answer/.test(e.message) && /set cluster\.tls\.cert and cluster\.tls\.key/.test(e.message),
    )
  })
})
