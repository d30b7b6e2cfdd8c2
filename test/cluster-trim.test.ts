/**
 * Trimming the streams of cluster plugins on a real redis-server: what every consumer group has
 * delivered and acked leaves the stream, what is still unread or pending never does (a consumer
 * that read and never acked, a node SIGKILLed with entries in hand), the dead-letter stream stays
 * within `cluster.deadMaxLen`, and the 16 streams of a `partitionBy` plugin are trimmed too.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, afterEach, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { CLUSTER_PARTITIONS, clusterKeys, GROUP } from '../src/cluster/keys.js'
import { trimRecord, trimStreams } from '../src/cluster/trim.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { addPump, addRecorder, readSeen, recordedBytes, tally } from './helpers/cluster.js'
import { collect, rig, spawnCli } from './helpers/cli-run.js'
import { PluginDir } from './helpers/plugins.js'
import { RedisServer, SKIP_REDIS } from './helpers/redis-server.js'
import { until } from './helpers/wait.js'

let n = 0
const clusterName = () => `trim${process.pid}-${n++}`

describe('cluster stream trimming', { skip: SKIP_REDIS }, () => {
  let redis: RedisServer
  let r: Redis
  let out = ''
  const dirs: PluginDir[] = []
  const children: Array<{ child: ChildProcess; io: ReturnType<typeof collect> }> = []

  before(async () => {
    redis = await RedisServer.start()
    r = new Redis(redis.url)
  })
  afterEach(async () => {
    for (const c of children.splice(0)) {
      if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL')
      await c.io.exited
    }
    await Promise.all(dirs.splice(0).map((d) => d.remove()))
    if (out) await rm(out, { recursive: true, force: true })
  })
  after(async () => {
    r?.disconnect()
    await redis?.stop()
  })

  async function plugins(recorder: object = {}): Promise<PluginDir> {
    const dir = await PluginDir.create()
    dirs.push(dir)
    await addRecorder(dir, 'rec', out, recorder)
    return dir
  }

  const cfg = (name: string, id: string, extra: object = {}) => ({ cluster: { redis: redis.url, name, nodeId: id, beatMs: 200, trimMs: 200, ...extra } })
  const rec = (s: Supervisor) => s.status().plugins.find((p) => p.name === 'rec')!.events

  it('keeps every entry a group has not delivered or acked, whatever the other groups did', async () => {
    const key = `${clusterName()}-direct`
    const record = `${key}:trim`
    const add = async (count: number) => {
      const pipe = r.pipeline()
      for (let i = 0; i < count; i++) pipe.xadd(key, '*', 'd', String(i))
      return ((await pipe.exec()) ?? []).map(([, id]) => String(id))
    }
    // No group yet: a first reader would start from the stream's start, so nothing goes.
    const ids = await add(1000)
    assert.deepEqual(await trimStreams(r, [key, `${key}-missing`], record, 0), { removed: 0, capped: false })
    // Our group read everything and acked all but ten entries in the middle.
    await r.xgroup('CREATE', key, GROUP, '0')
    await r.xreadgroup('GROUP', GROUP, 'ghost', 'COUNT', 1000, 'STREAMS', key, '>')
    const held = ids.slice(500, 510)
    await r.xack(key, GROUP, ...ids.filter((id) => !held.includes(id)))
    // A group a user added that has read only the first 200 (and acked them).
    await r.xgroup('CREATE', key, 'audit', '0')
    await r.xreadgroup('GROUP', 'audit', 'x', 'COUNT', 200, 'STREAMS', key, '>')
    await r.xack(key, 'audit', ...ids.slice(0, 200))
    const first = await trimStreams(r, [key], record, 0)
    assert.ok(first.removed > 0 && first.removed <= 200, `removed ${first.removed}: only what the user's group delivered may go`)
    assert.equal(await r.xlen(key), 1000 - first.removed)
    // Once the user's group is through, our pending entries hold the line.
    await r.xreadgroup('GROUP', 'audit', 'x', 'COUNT', 1000, 'STREAMS', key, '>')
    await r.xack(key, 'audit', ...ids)
    const second = await trimStreams(r, [key], record, 0)
    assert.ok(first.removed + second.removed <= 500, `removed ${first.removed + second.removed} entries, some pending`)
    for (const id of held) assert.equal(((await r.xrange(key, id, id)) as unknown[]).length, 1, `pending entry ${id} was trimmed`)
    // Throttled cluster-wide: a pass within trimMs of the last one does nothing.
    assert.equal((await trimStreams(r, [key], record, 60_000)).removed, -1)
    // Acked at last, they go too; the newest entry stays (it is the group's last delivered).
    await r.xack(key, GROUP, ...held)
    await trimStreams(r, [key], record, 0)
    assert.ok((await r.xlen(key)) < 200, `${await r.xlen(key)} entries left`)
    assert.equal(((await r.xrange(key, ids[999], ids[999])) as unknown[]).length, 1)
    const t = await trimRecord(r, record)
    assert.equal(t.passes, 4)
    assert.equal(t.trimmed, 1000 - (await r.xlen(key)))
  })

  it('trims the stream of 20,000 processed events well below 20,000 without losing one', async () => {
    out = await mkdtemp(path.join(tmpdir(), 'rig-trim-out-'))
    const name = clusterName()
    const total = 20_000
    const a = await (await plugins()).start({ config: cfg(name, 'a') })
    const b = await (await plugins()).start({ config: cfg(name, 'b') })
    for (let i = 0; i < total; i++) a.emit('work:x', { i })
    const seen = await until('every event is processed', async () => {
      if ((await recordedBytes(out)) < total * 20) return false
      const s = await readSeen(out)
      return tally(s, total).distinct === total && s
    }, 120_000)
    const stream = clusterKeys(name).stream('rec')
    const left = await until('the stream is trimmed', async () => {
      const len = await r.xlen(stream)
      return len < 2000 && len
    }, 30_000)
    const t = tally(seen, total)
    const redelivered = rec(a).redelivered + rec(b).redelivered
    process.stdout.write(`# trim: ${left} of ${total} entries left in the stream, ${t.duplicates} duplicate run(s), ${redelivered} redelivered\n`)
    assert.deepEqual(t.missing, [])
    assert.ok(t.duplicates <= redelivered, `${t.duplicates} duplicates but ${redelivered} redeliveries`)
    const report = await until('the status counts every entry once', async () => {
      const s = await a.clusterStatus()
      return s.plugins[0].pending === 0 && s.plugins[0].length + s.plugins[0].trimmed === total && s
    }, 30_000)
    assert.ok(report.plugins[0].trimmed > total - 2000)
    assert.ok(report.plugins[0].lastTrim && report.plugins[0].lastTrim.agoMs >= 0)
  })

  it('keeps what a SIGKILLed node held until another node reclaimed and ran it, then trims it', async () => {
    out = await mkdtemp(path.join(tmpdir(), 'rig-trim-out-'))
    const name = clusterName()
    const total = 20_000
    const keys = clusterKeys(name)
    const stream = keys.stream('rec')
    const spawnNode = async (id: string) => {
      // 5 s of silence before a killed node's entries are reclaimed: time for trim passes meanwhile.
      const dir = await plugins({ limits: { unresponsiveMs: 5000 } })
      await addPump(dir)
      const app = `trim-${process.pid}-${id}`
      const node = await spawnCli(dir.root, app, cfg(name, id))
      children.push(node)
      await until(`node ${id} runs`, () => /running: /.test(node.io.out()) || (node.child.exitCode !== null && Promise.reject(new Error(`node ${id} exited: ${node.io.out()}`))), 60_000)
      return { ...node, app }
    }
    const [a, b] = await Promise.all([spawnNode('a'), spawnNode('b')])
    const go = await rig(['emit', 'pump:go', JSON.stringify({ n: total }), '--app', a.app], { runtimeDir: a.runtimeDir })
    assert.equal(go.code, 0, go.stderr)
    const pendingOnB = async () => ((await r.xpending(stream, GROUP, '-', '+', 100_000, 'b')) as Array<[string]>).map(([id]) => id)
    // Killed while it holds a good number of entries read and not acked.
    await until('node b holds 100 entries', async () => (await pendingOnB()).length >= 100, 60_000)
    b.child.kill('SIGKILL')
    await b.io.exited
    const held = await pendingOnB()
    assert.ok(held.length > 0, 'the killed node held nothing pending')
    // Trim passes run while b's entries wait for a to judge b silent (3 s of silence, plus a's own
    // connection time): none of them may go.
    const passes = (await trimRecord(r, keys.trim('rec'))).passes
    await until('two more trim passes', async () => (await trimRecord(r, keys.trim('rec'))).passes >= passes + 2, 30_000)
    const present = await Promise.all(held.map(async (id) => ((await r.xrange(stream, id, id)) as unknown[]).length === 1))
    // Read after: an entry still pending on b now was pending on it when its presence was checked.
    const stillOnB = new Set(await pendingOnB())
    assert.ok(stillOnB.size > 0, 'b\'s entries were reclaimed before two trim passes ran')
    held.forEach((id, i) => assert.ok(present[i] || !stillOnB.has(id), `entry ${id}, pending on the killed node, was trimmed`))
    const seen = await until('every event is recorded', async () => {
      if ((await recordedBytes(out)) < total * 20) return false
      const s = await readSeen(out)
      return tally(s, total).distinct === total && s
    }, 120_000)
    const left = await until('the stream is trimmed once the reclaimed entries ran', async () => {
      const len = await r.xlen(stream)
      return len < 2000 && len
    }, 30_000)
    const t = tally(seen, total)
    process.stdout.write(`# trim after SIGKILL: ${held.length} held by the killed node (${stillOnB.size} still after two passes), ${left} entries left, ${t.duplicates} duplicate run(s)\n`)
    assert.deepEqual(t.missing, [])
    // Only what the killed node had run and not acked ran twice.
    assert.ok(t.duplicates <= held.length, `${t.duplicates} duplicates, ${held.length} held by the killed node`)
    assert.equal(((await r.xpending(stream, GROUP)) as [number])[0], 0)
  })

  it('keeps the dead-letter stream within cluster.deadMaxLen and counts the dropped letters', async () => {
    out = await mkdtemp(path.join(tmpdir(), 'rig-trim-out-'))
    const name = clusterName()
    const total = 1000
    const a = await (await plugins({ maxAttempts: 1 })).start({ config: cfg(name, 'a', { deadMaxLen: 100 }) })
    for (let i = 0; i < total; i++) a.emit('work:x', { i, fail: true })
    const report = await until('every event is dead-lettered', async () => {
      const s = await a.clusterStatus()
      return s.plugins[0].deadLetters + s.plugins[0].deadDropped === total && s.plugins[0].pending === 0 && s
    }, 60_000)
    const dead = clusterKeys(name).dead('rec')
    const kept = await r.xlen(dead)
    // Approximate: Redis drops whole nodes of the stream (100 entries each by default).
    assert.ok(kept >= 100 && kept <= 200, `${kept} dead letters kept`)
    assert.equal(report.plugins[0].deadDropped, total - report.plugins[0].deadLetters)
    // The newest letters are the ones kept.
    const newest = (await r.xrevrange(dead, '+', '-', 'COUNT', 1)) as Array<[string, string[]]>
    assert.equal(JSON.parse(newest[0][1][1]).event, 'work:x')
    // Dead-lettered events were acked: the plugin's stream is trimmed of them.
    await until('the stream is trimmed', async () => (await r.xlen(clusterKeys(name).stream('rec'))) < 500, 30_000)
  })

  it('trims every partition stream of a partitionBy plugin', async () => {
    out = await mkdtemp(path.join(tmpdir(), 'rig-trim-out-'))
    const name = clusterName()
    const total = 20_000
    const w = { partitionBy: 'key', limits: { unresponsiveMs: 3000 } }
    const a = await (await plugins(w)).start({ config: cfg(name, 'a') })
    await (await plugins(w)).start({ config: cfg(name, 'b') })
    for (let i = 0; i < total; i++) a.emit('work:x', { i, key: `k${i % 50}` })
    const seen = await until('every event is processed', async () => {
      if ((await recordedBytes(out)) < total * 20) return false
      const s = await readSeen(out)
      return tally(s, total).distinct === total && s
    }, 120_000)
    assert.deepEqual(tally(seen, total).missing, [])
    const streams = Array.from({ length: CLUSTER_PARTITIONS }, (_, p) => clusterKeys(name).stream('rec', p))
    const lengths = await until('every partition stream is trimmed', async () => {
      const l = await Promise.all(streams.map((s) => r.xlen(s)))
      return l.reduce((x, y) => x + y, 0) < 4000 && l.every((x) => x < 600) && l
    }, 30_000)
    process.stdout.write(`# trim partitioned: ${lengths.join(' ')} entries left per partition\n`)
    const report = await until('the status counts every entry once', async () => {
      const s = await a.clusterStatus()
      return s.plugins[0].pending === 0 && s.plugins[0].length + s.plugins[0].trimmed === total && s
    }, 30_000)
    assert.equal(report.plugins[0].streams, CLUSTER_PARTITIONS)
  })
})
