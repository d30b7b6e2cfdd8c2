/**
 * Cluster mode on a real redis-server (started by the test on a free loopback port): events of a
 * `placement: "cluster"` plugin are balanced across supervisors through its consumer group, a
 * Redis outage parks them in the local outbox, dead letters go to a stream, status shows every
 * node, and no password is ever printed.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { isOutriggerError } from '../src/errors.js'
import type { ClusterReport } from '../src/cluster/report-types.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { addRecorder, readSeen, tally } from './helpers/cluster.js'
import { memoryLogger, PluginDir, worker } from './helpers/plugins.js'
import { RedisServer, SKIP_REDIS } from './helpers/redis-server.js'
import { until } from './helpers/wait.js'

let n = 0
const clusterName = () => `t${process.pid}-${n++}`

describe('cluster mode', { skip: SKIP_REDIS }, () => {
  let redis: RedisServer
  let out: string
  const dirs: PluginDir[] = []
  before(async () => {
    redis = await RedisServer.start()
  })
  after(async () => {
    await Promise.all(dirs.splice(0).map((d) => d.remove()))
    await redis?.stop()
  })

  async function node(id: string, name: string, url = redis.url, logger?: unknown): Promise<{ dir: PluginDir; sup: Supervisor }> {
    const dir = await PluginDir.create()
    dirs.push(dir)
    await addRecorder(dir, 'rec', out)
    const sup = await dir.start({ config: { cluster: { redis: url, name, nodeId: id, beatMs: 200 } }, ...(logger ? { logger: logger as never } : {}) })
    return { dir, sup }
  }

  it('balances a cluster plugin\'s events across supervisors and acks each once it ran', async () => {
    out = await mkdtemp(path.join(tmpdir(), 'rig-cluster-out-'))
    const name = clusterName()
    const a = await node('a', name)
    const b = await node('b', name)
    const total = 4000
    for (let i = 0; i < total; i++) a.sup.emit('work:x', { i })
    await until('every event is processed', async () => tally(await readSeen(out), total).distinct === total, 60_000)
    const rec = (s: Supervisor) => s.status().plugins.find((p) => p.name === 'rec')!
    // Both nodes ran some: the group balances between them.
    await until('both nodes have processed events', () => rec(a.sup).events.processed > 0 && rec(b.sup).events.processed > 0, 30_000)
    const report = await until('nothing pending in the group', async () => {
      const r = await a.sup.clusterStatus()
      // Every entry appended once: still in the stream, or trimmed once every group had it acked.
      return r.plugins[0]?.pending === 0 && r.plugins[0].lag === 0 && r.plugins[0].length + r.plugins[0].trimmed === total && r
    }, 30_000)
    assert.deepEqual(report.nodes.map((x) => x.id), ['a', 'b'])
    assert.equal(report.health, 'healthy')
    assert.deepEqual(report.nodes[0].plugins, [{ name: 'rec', instances: 2 }])
    assert.equal(report.plugins[0].name, 'rec')
    assert.deepEqual(report.plugins[0].consumers.map((c) => c.node).sort(), ['a', 'b'])
    assert.equal(rec(a.sup).events.processed + rec(b.sup).events.processed, total)
    await rm(out, { recursive: true, force: true })
  })

  it('answers GET /_status?cluster=1 with every node, and refuses a bad cluster config or a durable cluster plugin clearly', async () => {
    out = await mkdtemp(path.join(tmpdir(), 'rig-cluster-out-'))
    const dir = await PluginDir.create()
    dirs.push(dir)
    await addRecorder(dir, 'rec', out)
    const sup = (await dir.start({ http: { port: 0 }, config: { cluster: { redis: redis.url, name: clusterName(), nodeId: 'h', beatMs: 200 } } })) as Supervisor & { httpUrl: string }
    const res = await until('the node is listed', async () => {
      const r = (await (await fetch(`${sup.httpUrl}/_status?cluster=1`)).json()) as ClusterReport
      return r.nodes?.length === 1 && r
    }, 10_000)
    assert.equal(res.nodes[0].id, 'h')
    assert.deepEqual(res.nodes[0].plugins, [{ name: 'rec', instances: 2 }])
    assert.equal(((await (await fetch(`${sup.httpUrl}/_status`)).json()) as { plugins: Array<{ name: string }> }).plugins[0].name, "rec")

    const bad = await PluginDir.create()
    dirs.push(bad)
    await assert.rejects(bad.start({ config: { cluster: { redis: 'http://:pw-secret@127.0.0.1:1', name: 'x' } } }), (e: unknown) => isOutriggerError(e) && e.code === 'RIG_ERR_CONFIG_INVALID' && /cluster\.redis/.test(e.message) && /redis:\/\/127\.0\.0\.1:6379/.test(e.message) && !e.message.includes('pw-secret'))
    await bad.add('durable', worker('durable', { placement: 'cluster', delivery: 'durable' }), 'export default {}')
    const s2 = await bad.start({ config: { cluster: { redis: redis.url, name: clusterName() } } })
    const p = s2.status().plugins.find((x) => x.name === 'durable')!
    assert.equal(p.state, 'failed')
    assert.equal(p.lastError?.code, 'RIG_ERR_MANIFEST_INVALID')
    assert.match(p.lastError!.message, /worker\.delivery.*"durable" is for local plugins/)
    await rm(out, { recursive: true, force: true })
  })

  it('refuses a cluster plugin on a host without a cluster (RIG_ERR_CLUSTER_REQUIRED)', async () => {
    const dir = await PluginDir.create()
    dirs.push(dir)
    await dir.add('lonely', worker('lonely', { placement: 'cluster' }), 'export default { hooks: { "a:b"() {} } }')
    const sup = await dir.start()
    const p = sup.status().plugins.find((x) => x.name === 'lonely')!
    assert.equal(p.state, 'failed')
    assert.equal(p.lastError?.code, 'RIG_ERR_CLUSTER_REQUIRED')
    assert.match(p.lastError!.message, /"cluster": \{ "redis"/)
    await assert.rejects(sup.clusterStatus(), (e: unknown) => isOutriggerError(e) && e.code === 'RIG_ERR_CLUSTER_REQUIRED')
  })

  it('keeps events emitted during a Redis outage in the outbox and forwards them once it is back', async () => {
    out = await mkdtemp(path.join(tmpdir(), 'rig-cluster-out-'))
    const name = clusterName()
    const a = await node('a', name)
    for (let i = 0; i < 100; i++) a.sup.emit('work:x', { i })
    await until('the first events are processed', async () => tally(await readSeen(out), 100).distinct === 100, 30_000)
    await redis.pause()
    await until('the node sees the outage', async () => (await a.sup.clusterStatus().then(() => false, (e) => isOutriggerError(e) && e.code === 'RIG_ERR_CLUSTER_UNREACHABLE')) || undefined, 10_000)
    for (let i = 100; i < 600; i++) a.sup.emit('work:x', { i })
    const err = await a.sup.clusterStatus().catch((e) => e)
    assert.equal(err.code, 'RIG_ERR_CLUSTER_UNREACHABLE')
    // The outbox holds them, as the status says.
    await until('the outbox holds the events', () => (err.details.local[0].outbox as number) >= 0 && true)
    await redis.resume()
    await until('every event is processed after the outage', async () => tally(await readSeen(out), 600).distinct === 600, 60_000)
    const report = await a.sup.clusterStatus()
    assert.ok(report.local[0].journaled >= 500, `journaled ${report.local[0].journaled}`)
    assert.equal(report.local[0].forwarded, report.local[0].journaled)
    assert.equal(report.local[0].outbox, 0)
    assert.ok(report.link.outages >= 1)
    await rm(out, { recursive: true, force: true })
  })

  it('sends an event that ran out of attempts to the plugin\'s dead-letter stream and acks it', async () => {
    out = await mkdtemp(path.join(tmpdir(), 'rig-cluster-out-'))
    const name = clusterName()
    const a = await node('a', name)
    a.sup.emit('work:x', { i: 1, fail: true })
    a.sup.emit('work:x', { i: 2 })
    const r = new Redis(redis.url)
    try {
      const letters = await until('the dead letter is in its stream', async () => {
        const x = (await r.xrange(`outrigger:${name}:plugin:rec:dead`, '-', '+')) as Array<[string, string[]]>
        return x.length > 0 && x
      }, 30_000)
      const letter = JSON.parse(letters[0][1][1])
      assert.equal(letter.event, 'work:x')
      assert.equal(letter.attempts, 3)
      assert.equal(letter.node, 'a')
      assert.match(letter.error.message, /refused 1/)
      const report = await until('nothing pending', async () => {
        const s = await a.sup.clusterStatus()
        return s.plugins[0].pending === 0 && s
      }, 30_000)
      assert.equal(report.plugins[0].deadLetters, 1)
    } finally {
      r.disconnect()
    }
    await rm(out, { recursive: true, force: true })
  })
})

describe('cluster mode with a password', { skip: SKIP_REDIS }, () => {
  let redis: RedisServer
  before(async () => {
    redis = await RedisServer.start(['--requirepass', 'hunter2-s3cret'])
  })
  after(() => redis?.stop())

  it('connects with the password in the URL, and never prints it in status or logs', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'rig-cluster-out-'))
    const dir = await PluginDir.create()
    try {
      await addRecorder(dir, 'rec', out)
      const { logger, lines } = memoryLogger()
      const url = `redis://:hunter2-s3cret@127.0.0.1:${redis.port}`
      const sup = await dir.start({ logger, config: { cluster: { redis: url, name: clusterName(), nodeId: 'a', beatMs: 200 } } })
      sup.emit('work:x', { i: 0 })
      await until('the event is processed', async () => tally(await readSeen(out), 1).distinct === 1, 30_000)
      const report = await sup.clusterStatus()
      assert.equal(report.redis, `redis://:***@127.0.0.1:${redis.port}`)
      await redis.pause()
      await until('the outage is logged', () => lines.some((l) => /lost redis/.test(l.msg ?? '')), 10_000)
      await redis.resume()
      await until('the reconnect is logged', () => lines.filter((l) => /connected to/.test(l.msg ?? '')).length >= 2, 20_000)
      const printed = JSON.stringify(lines) + JSON.stringify(await sup.clusterStatus()) + JSON.stringify(sup.status())
      assert.ok(!printed.includes('hunter2'), 'the password was printed')
      await sup.stop()
    } finally {
      await dir.remove()
      await rm(out, { recursive: true, force: true })
    }
  })
})
