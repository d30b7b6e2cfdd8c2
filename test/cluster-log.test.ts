/**
 * The coordination log of a cluster, on a real redis-server: one total order for many writers,
 * every node's replica built from it, a node that joins mid-run receiving the log and the
 * replica, a node killed and restarted reading on from its local copy, partitions assigned in it.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { after, afterEach, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { liveInstances } from '../src/coordination/builtin.js'
import type { LogEntry, Replica } from '../src/coordination/types.js'
import type { OutriggerError } from '../src/errors.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { collect, rig, spawnCli } from './helpers/cli-run.js'
import { core, PluginDir, worker } from './helpers/plugins.js'
import { RedisServer, SKIP_REDIS } from './helpers/redis-server.js'
import { until } from './helpers/wait.js'

let n = 0
const clusterName = () => `log${process.pid}-${n++}`

/** A core plugin whose namespace is a board of keys: `board/put` sets one; `board:put` events append it. */
const BOARD = `
export default (ctx) => ({
  coordination: { 'board/put': { apply: (a, r) => ({ ...(r.meta?.board ?? {}), [a.k]: a.v }) } },
  functions: { put: (a) => ctx.coordination.append('board/put', a) },
  hooks: { 'board:put': (a) => ctx.coordination.append('board/put', a) },
})`

/** A worker plugin counting into its namespace, each instance applying the log itself. */
const TALLY = `
export default (ctx) => ({
  coordination: { 'tally/add': { apply: (a, r) => ({ total: (r.meta?.tally?.total ?? 0) + a.n }) } },
  functions: {
    add: (n) => ctx.coordination.append('tally/add', { n }),
    total: () => ctx.coordination.replica().meta?.tally?.total ?? 0,
    peer: () => ctx.coordination.peer.id,
  },
})`

async function plugins(dirs: PluginDir[], extra?: (d: PluginDir) => Promise<unknown>): Promise<PluginDir> {
  const dir = await PluginDir.create()
  dirs.push(dir)
  await dir.add('board', core('board'), BOARD)
  await dir.add('tally', worker('tally', { instances: 2 }), TALLY)
  await extra?.(dir)
  return dir
}

const log = (sup: Supervisor): Promise<LogEntry[]> => sup.coordination.log.read(1, 1_000_000)
const board = (r: Replica) => (r.meta?.board ?? {}) as Record<string, number>

/** Every node has applied the same head (at least `min`), with every worker instance caught up. */
async function agreed(sups: Supervisor[], min = 0): Promise<number> {
  return until(`the nodes agree on the log (at least seq ${min})`, () => {
    const heads = sups.map((s) => s.coordination.log.committed)
    if (heads.some((h) => h !== heads[0] || h < min)) return false
    const caughtUp = sups.every((s) => s.status().plugins.find((p) => p.name === 'tally')!.instances.every((i) => i.state !== 'running' || i.appliedSeq === heads[0]))
    return caughtUp && heads[0]
  }, 30_000)
}

describe('the coordination log of a cluster', { skip: SKIP_REDIS }, () => {
  let redis: RedisServer
  const dirs: PluginDir[] = []
  const sups: Supervisor[] = []
  before(async () => {
    redis = await RedisServer.start()
  })
  afterEach(async () => {
    await Promise.all(sups.splice(0).map((s) => s.stop().catch(() => undefined)))
    await Promise.all(dirs.splice(0).map((d) => d.remove()))
  })
  after(() => redis?.stop())

  async function node(id: string, name: string, dir?: PluginDir): Promise<Supervisor> {
    const sup = await (dir ?? (await plugins(dirs))).start({ config: { cluster: { redis: redis.url, name, nodeId: id, beatMs: 200 }, coordination: { snapshotEvery: 50 } } })
    sups.push(sup)
    return sup
  }

  it('keeps one total order for many writers; a node joining mid-run receives the log and the replica', async () => {
    const name = clusterName()
    const [a, b] = [await node('a', name), await node('b', name)]
    // Both nodes write at once, core and worker plugins alike: every append lands once, in one order.
    await Promise.all([
      ...Array.from({ length: 150 }, (_, i) => a.call('board.put', { k: `a${i % 10}`, v: i })),
      ...Array.from({ length: 150 }, (_, i) => b.call('board.put', { k: `b${i % 10}`, v: i })),
      ...Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).call('tally.add', 1)),
    ])
    const head = await agreed([a, b])
    const [la, lb] = [await log(a), await log(b)]
    assert.deepEqual(la, lb)
    assert.deepEqual(la.map((e) => e.seq), la.map((_, i) => i + 1))
    assert.equal(la.filter((e) => e.type === 'board/put').length, 300)
    assert.equal(la.filter((e) => e.type === 'tally/add').length, 40)
    assert.deepEqual(a.coordination.log.replica, b.coordination.log.replica)
    assert.equal(board(a.coordination.log.replica).a9, 149)
    assert.equal(board(a.coordination.log.replica).b0, 140)
    // Worker instances on both nodes applied every tally/add, whoever appended it.
    assert.deepEqual([await a.call('tally.total'), await b.call('tally.total')], [40, 40])
    assert.ok(head >= 340)

    // Instance ids are unique cluster-wide, each record naming its node.
    const tally = a.coordination.log.replica.plugins!.tally
    const ids = liveInstances(a.coordination.log.replica, 'tally')
    assert.equal(new Set(ids).size, 4, `ids ${ids}`)
    assert.deepEqual(Object.values(tally.instances).map((i) => i.node).sort(), ['a', 'a', 'b', 'b'])
    assert.ok(ids.includes(await a.call<number>('tally.peer')))
    assert.deepEqual(Object.keys(a.coordination.log.replica.cluster!.nodes).sort(), ['a', 'b'])

    // A third node, with an empty state folder, joins while the others keep writing.
    const writing = Array.from({ length: 100 }, (_, i) => a.call('board.put', { k: 'late', v: i }))
    const c = await node('c', name)
    await Promise.all(writing)
    await agreed([a, b, c], head + 100)
    assert.deepEqual(await log(c), await log(a))
    assert.deepEqual(c.coordination.log.replica, a.coordination.log.replica)
    assert.equal(board(c.coordination.log.replica).late, 99)
    // Its worker instances caught up too: from the log, or from a snapshot and what follows it.
    assert.equal(await c.call('tally.total'), 40)
    assert.equal(liveInstances(c.coordination.log.replica, 'tally').length, 6)

    // A node that stops leaves: its instances go from every replica, the plugin runs on elsewhere.
    await b.stop()
    sups.splice(sups.indexOf(b), 1)
    await until('b left the log', () => !('b' in (a.coordination.log.replica.cluster?.nodes ?? {})) && a.coordination.log.committed === c.coordination.log.committed, 20_000)
    const left = a.coordination.log.replica
    assert.deepEqual(left, c.coordination.log.replica)
    assert.equal(left.plugins!.tally.state, 'started')
    assert.deepEqual(Object.values(left.plugins!.tally.instances).map((i) => i.node).sort(), ['a', 'a', 'c', 'c'])
  })

  it('assigns the partitions of a partitionBy cluster plugin in the log, one node each', async () => {
    const name = clusterName()
    const withRec = (d: PluginDir) => d.add('parts', worker('parts', { placement: 'cluster', partitionBy: 'key' }), 'export default { hooks: { "parts:x": () => {} } }')
    const a = await node('a', name, await plugins(dirs, withRec))
    const b = await node('b', name, await plugins(dirs, withRec))
    const held = (r: Replica) => Object.entries(r.cluster?.partitions.parts ?? {})
    await until('16 partitions split between a and b', () => {
      const h = held(a.coordination.log.replica)
      return h.length === 16 && h.filter(([, x]) => x === 'a').length === 8
    }, 30_000)
    const claims = (await log(a)).filter((e) => e.type === 'partition/claimed')
    assert.ok(claims.length >= 16)
    // What each node reads is what the log gives it.
    const local = async (s: Supervisor) => (await s.clusterStatus()).local[0].partitions
    await until('each node reads its partitions', async () => (await local(a)).length === 8 && (await local(b)).length === 8, 20_000)
    const mine = held(a.coordination.log.replica).filter(([, x]) => x === 'a').map(([p]) => Number(p))
    assert.deepEqual(await local(a), mine.sort((x, y) => x - y))

    await b.stop()
    sups.splice(sups.indexOf(b), 1)
    await until('a holds all 16 after b left', async () => held(a.coordination.log.replica).every(([, x]) => x === 'a') && (await local(a)).length === 16, 30_000)
  })

  it('holds the appends made while Redis is down and writes each once it is back, in one order', async () => {
    const name = clusterName()
    const [a, b] = [await node('a', name), await node('b', name)]
    await agreed([a, b])
    await redis.pause()
    let settled = 0
    const during = Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).call<number>('board.put', { k: 'outage', v: i }).finally(() => settled++))
    // Nothing can be written meanwhile: the appends wait (none fails) while the node retries Redis.
    const head = a.coordination.log.committed
    await until('a retried Redis twice', () => a.clusterStatus().then(() => false, (e: OutriggerError) => ((e.details as { link?: { retries: number } })?.link?.retries ?? 0) >= 2), 10_000)
    assert.equal(settled, 0)
    assert.equal(a.coordination.log.committed, head)
    await redis.resume()
    const seqs = await Promise.all(during)
    assert.equal(new Set(seqs).size, 20)
    await agreed([a, b], Math.max(...seqs))
    const entries = await log(a)
    assert.deepEqual(entries, await log(b))
    assert.equal(entries.filter((e) => e.type === 'board/put' && (e.args as { k: string }).k === 'outage').length, 20)
    assert.deepEqual(a.coordination.log.replica, b.coordination.log.replica)
  })

  it('a node killed and restarted reads on from its local copy; the others drop its instances meanwhile', async () => {
    const name = clusterName()
    const a = await node('a', name)
    const dir = await plugins(dirs)
    const app = `log-${process.pid}-b`
    const cfg = { cluster: { redis: redis.url, name, nodeId: 'b', beatMs: 200 }, coordination: { snapshotEvery: 50 } }
    const spawnB = async (): Promise<{ child: ChildProcess; io: ReturnType<typeof collect>; runtimeDir: string }> => {
      const s = await spawnCli(dir.root, app, cfg)
      await until('b runs', () => /running: /.test(s.io.out()) || (s.child.exitCode !== null && Promise.reject(new Error(`b exited: ${s.io.out()}`))), 60_000)
      return s
    }
    let b = await spawnB()
    try {
      await Promise.all(Array.from({ length: 50 }, (_, i) => a.call('board.put', { k: 'x', v: i })))
      const nodesIn = () => Object.keys(a.coordination.log.replica.cluster?.nodes ?? {}).sort()
      await until('b joined', () => nodesIn().join() === 'a,b' && liveInstances(a.coordination.log.replica, 'tally').length === 4, 30_000)
      const tail = async () => {
        const r = await rig(['log', 'tail', '--json', '--from', '1', '--app', app], { runtimeDir: b.runtimeDir })
        assert.equal(r.code, 0, r.stderr)
        return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as LogEntry)
      }
      await until('b applied what a wrote', async () => (await tail()).length === a.coordination.log.committed, 20_000)

      b.child.kill('SIGKILL')
      await b.io.exited
      // a judges b gone once it has been silent long enough, and its instances leave the replica.
      await until('a appended node/left for b', () => nodesIn().join() === 'a', 30_000)
      assert.deepEqual(Object.values(a.coordination.log.replica.plugins!.tally.instances).map((i) => i.node), ['a', 'a'])
      await Promise.all(Array.from({ length: 50 }, (_, i) => a.call('board.put', { k: 'y', v: i })))

      // Back under the same id and state folder: the local copy, then what Redis holds beyond it.
      const before = a.coordination.log.committed
      b = await spawnB()
      await until('b is back in the log', () => nodesIn().join() === 'a,b' && liveInstances(a.coordination.log.replica, 'tally').length === 4, 30_000)
      const entries = await until('b caught up', async () => {
        const t = await tail()
        return t.length === a.coordination.log.committed && t
      }, 20_000)
      assert.deepEqual(entries, await log(a))
      assert.ok(entries.length > before)
      const replica = await rig(['log', 'replica', '--json', '--app', app], { runtimeDir: b.runtimeDir })
      assert.equal(replica.code, 0, replica.stderr)
      assert.deepEqual(JSON.parse(replica.stdout), JSON.parse(JSON.stringify(a.coordination.log.replica)))
      // In Redis: the stream holds the log under ids <seq>-0, and its head beside it.
      const r = new Redis(redis.url)
      try {
        assert.equal(Number(await r.get(`outrigger:${name}:log:head`)), a.coordination.log.committed)
        assert.equal(await r.xlen(`outrigger:${name}:log`), a.coordination.log.committed)
        const [[id]] = await r.xrevrange(`outrigger:${name}:log`, '+', '-', 'COUNT', 1)
        assert.equal(id, `${a.coordination.log.committed}-0`)
      } finally {
        r.disconnect()
      }
    } finally {
      if (b.child.exitCode === null && b.child.signalCode === null) b.child.kill('SIGKILL')
      await b.io.exited
    }
  })
})
