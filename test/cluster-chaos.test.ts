/**
 * The cluster under faults, for real: three supervisors in three processes (`outrigger start`)
 * share a cluster plugin on a real redis-server. One is SIGKILLed mid-way and started again, and
 * redis-server itself is stopped for 2 s. Every event must be processed at least once; the
 * duplicates that at-least-once allows are counted and reported. A `partitionBy` plugin keeps
 * each key's order cluster-wide through a node's death.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, afterEach, before, describe, it } from 'node:test'
import type { ClusterReport } from '../src/cluster/report-types.js'
import { addPump, addRecorder, orderBreaks, readSeen, recordedBytes, tally } from './helpers/cluster.js'
import { collect, rig, spawnCli } from './helpers/cli-run.js'
import { PluginDir } from './helpers/plugins.js'
import { RedisServer, SKIP_REDIS } from './helpers/redis-server.js'
import { alive, until } from './helpers/wait.js'

interface Node {
  id: string
  app: string
  dir: PluginDir
  child: ChildProcess
  io: ReturnType<typeof collect>
  runtimeDir: string
}

describe('cluster chaos', { skip: SKIP_REDIS }, () => {
  let redis: RedisServer
  let out: string
  const nodes: Node[] = []
  const dirs: PluginDir[] = []

  before(async () => {
    redis = await RedisServer.start()
  })
  afterEach(async () => {
    for (const n of nodes.splice(0)) {
      if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGKILL')
      await n.io.exited
    }
    await Promise.all(dirs.splice(0).map((d) => d.remove()))
    if (out) await rm(out, { recursive: true, force: true })
  })
  after(() => redis?.stop())

  async function plugins(recorder: object): Promise<PluginDir> {
    const dir = await PluginDir.create()
    dirs.push(dir)
    await addRecorder(dir, 'rec', out, recorder)
    await addPump(dir)
    return dir
  }

  /** `outrigger start` of node `id` on `dir`, waiting until it runs. */
  async function start(id: string, dir: PluginDir, cluster: string): Promise<Node> {
    const app = `chaos-${process.pid}-${id}`
    const { child, io, runtimeDir } = await spawnCli(dir.root, app, { cluster: { redis: redis.url, name: cluster, nodeId: id, beatMs: 200 } })
    await until(`node ${id} runs`, () => /running: /.test(io.out()) || (child.exitCode !== null && Promise.reject(new Error(`node ${id} exited: ${io.out()}`))), 60_000)
    const n = { id, app, dir, child, io, runtimeDir }
    nodes.push(n)
    return n
  }

  function kill(n: Node): Promise<unknown> {
    n.child.kill('SIGKILL')
    return n.io.exited
  }

  /** The cluster as node `n` reads it; undefined while its link is still down (after the outage). */
  async function clusterStatus(n: Node): Promise<ClusterReport | undefined> {
    const r = await rig(['status', '--cluster', '--json', '--app', n.app], { runtimeDir: n.runtimeDir })
    if (r.code !== 0 && /RIG_ERR_CLUSTER_UNREACHABLE/.test(r.stderr)) return undefined
    assert.equal(r.code, 0, r.stderr)
    return JSON.parse(r.stdout) as ClusterReport
  }

  it('processes 100,000 events at least once through a SIGKILLed node and a 2 s Redis outage, counting duplicates', async () => {
    out = await mkdtemp(path.join(tmpdir(), 'rig-chaos-out-'))
    const cluster = `chaos-${process.pid}`
    const total = 100_000
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map(async (id) => start(id, await plugins({}), cluster)))
    const started = Date.now()
    const go = await rig(['emit', 'pump:go', JSON.stringify({ n: total }), '--app', a.app], { runtimeDir: a.runtimeDir })
    assert.equal(go.code, 0, go.stderr)

    // Mid-way: node b dies without a word, then comes back under the same id.
    await until('a fifth of the events are recorded', async () => (await recordedBytes(out)) >= total * 0.2 * 20, 60_000)
    await kill(b)
    assert.ok(!alive(b.child.pid!))
    const health = await until('health --cluster sees b missing', async () => {
      const h = await rig(['health', '--cluster', '--json', '--app', a.app], { runtimeDir: a.runtimeDir })
      return h.code === 1 && h
    }, 30_000)
    assert.match(health.stdout, /"missing": true/)
    const b2 = await start('b', b.dir, cluster)

    // Then Redis itself stops for 2 s (a deliberate outage length, not a wait for a state).
    await until('half of the events are recorded', async () => (await recordedBytes(out)) >= total * 0.5 * 20, 60_000)
    await redis.pause()
    await new Promise((r) => setTimeout(r, 2000))
    await redis.resume()

    const seen = await until('every event is recorded', async () => {
      if ((await recordedBytes(out)) < total * 20) return false
      const s = await readSeen(out)
      return tally(s, total).distinct === total && s
    }, 120_000)
    // Every node beats again after the outage (a reconnect waits up to 2 s), and the group is done.
    const report = await until('every node beats and the group has nothing pending or unread', async () => {
      const r = await clusterStatus(a)
      return r?.plugins[0]?.pending === 0 && r.plugins[0].lag === 0 && r.nodes.length === 3 && r.nodes.every((n) => !n.missing) && r
    }, 60_000)
    const t = tally(seen, total)
    const statuses = await Promise.all([a, b2, c].map((n) => rig(['status', '--json', '--app', n.app], { runtimeDir: n.runtimeDir }).then((r) => JSON.parse(r.stdout))))
    const redelivered = statuses.reduce((sum, s) => sum + s.plugins.find((p: { name: string }) => p.name === 'rec').events.redelivered, 0)
    // An append whose answer was lost in the outage is sent again: the stream may hold a few twice.
    // What trimming removed was appended too (the status reads the trim total after the lengths, so
    // a pass in between can only count some entries twice, never miss one).
    const appendedTwice = report.plugins[0].length + report.plugins[0].trimmed - total
    process.stdout.write(`# chaos: ${total} events in ${Date.now() - started} ms, ${t.duplicates} duplicate run(s): ${redelivered} redelivered, ${appendedTwice} appended twice; 0 lost\n`)
    assert.deepEqual(t.missing, [])
    assert.equal(t.distinct, total)
    // b's pending entries were taken over (by a or c after its silence, or by b itself on its return).
    assert.ok(redelivered > 0, 'nothing was redelivered: the kill left nothing pending?')
    // Every duplicate is a redelivery: nothing ran twice without one.
    assert.ok(appendedTwice >= 0)
    assert.ok(t.duplicates <= redelivered + appendedTwice, `${t.duplicates} duplicates but only ${redelivered} redeliveries and ${appendedTwice} double appends`)
    assert.deepEqual(report.nodes.map((n) => n.id), ['a', 'b', 'c'])
    // The table: one row per node, the plugin with its pending count per consumer.
    const table = await rig(['status', '--cluster', '--app', c.app], { runtimeDir: c.runtimeDir })
    assert.equal(table.code, 0, table.stderr)
    assert.match(table.stdout, /NODE +HOST +PID +PLUGINS +INSTANCES +PENDING +LAST BEAT +LOG SEQ/)
    for (const id of ['a', 'b', 'c']) assert.match(table.stdout, new RegExp(`^${id} .* rec +2 +0 +[0-9.]+ s ago +\\d+$`, 'm'))
    // Every node follows the cluster's coordination log, and says how far it applied it.
    assert.ok(report.log.head > 0)
    assert.ok(report.nodes.every((n) => n.logSeq !== null && n.logSeq > 0))
    assert.match(table.stdout, /^rec +1 +\d+ +0 +0 +0 +.*c=0/m)
  })

  it('keeps per-key order cluster-wide for a partitionBy plugin through a node\'s death', async () => {
    out = await mkdtemp(path.join(tmpdir(), 'rig-order-out-'))
    const cluster = `order-${process.pid}`
    const total = 20_000
    // A node is judged silent after 3 s: a loaded machine may hold a node's event loop for a while.
    const nodes3 = await Promise.all(['a', 'b', 'c'].map(async (id) => start(id, await plugins({ partitionBy: 'key', limits: { unresponsiveMs: 3000 } }), cluster)))
    const [a, , c] = nodes3
    // Every node holds some of the 16 partitions (a share is at most ceil(16 / 3) = 6) before the events flow.
    await until('the partitions are spread over the three nodes', async () => {
      const held = await Promise.all(nodes3.map(async (n) => (await clusterStatus(n))?.local[0]?.partitions.length ?? 0))
      return held.every((h) => h > 0 && h <= 6) && held.reduce((x, y) => x + y, 0) === 16
    }, 60_000)
    const go = await rig(['emit', 'pump:go', JSON.stringify({ n: total, keys: 50 }), '--app', a.app], { runtimeDir: a.runtimeDir })
    assert.equal(go.code, 0, go.stderr)
    await until('a quarter of the events are recorded', async () => (await recordedBytes(out)) >= total * 0.25 * 20, 60_000)
    await kill(c)
    const seen = await until('every event is recorded', async () => {
      const s = await readSeen(out)
      return tally(s, total).distinct === total && s
    }, 120_000)
    assert.deepEqual(orderBreaks(seen), [])
    // The keys the dead node held ran on the others afterwards.
    const files = new Set(seen.lines.map((l) => l.file.split('-')[0]))
    assert.ok(files.size >= 3, `events ran in ${files.size} process(es)`)
  })
})
