import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { BUILT_IN_TYPES, liveInstances } from '../src/coordination/builtin.js'
import { LmdbLogStore } from '../src/coordination/lmdb-log-store.js'
import { CoordinationLog } from '../src/coordination/log.js'
import { applyEntry, EMPTY_REPLICA, projection, withMeta } from '../src/coordination/replica.js'
import type { CoordinationMap, LogEntry, Replica } from '../src/coordination/types.js'
import { OutriggerError } from '../src/errors.js'
import { WorkerCoordination } from '../workers/coordination.js'

/** A small seeded generator, so a failing sequence can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// alpha runs "in the supervisor" (a core plugin): the live log applies its entries.
const alpha: CoordinationMap = {
  'alpha/add': { apply: (a: { n: number }, r: Replica) => ({ total: ((r.meta?.alpha as { total?: number })?.total ?? 0) + a.n }) },
  'alpha/reset': { apply: () => undefined },
}
// beta runs "in worker instances": the supervisor never applies its entries. Its apply throws on
// 13, so some entries in the log are skipped by every replica that holds beta.
const beta: CoordinationMap = {
  'beta/push': {
    apply: (a: { v: number }, r: Replica) => {
      if (a.v === 13) throw new Error('thirteen')
      return [...((r.meta?.beta as number[]) ?? []), a.v].slice(-5)
    },
    diff: (a: { v: number }) => ({ pushed: a.v }),
  },
  'instance/joined': { reactions: () => [] },
}
const all = (p: string) => (p === 'alpha' ? alpha : p === 'beta' ? beta : undefined)
const onlyAlpha = (p: string) => (p === 'alpha' ? alpha : undefined)

/** A random entry: a built-in one or a plugin's own. */
function randomEntry(next: () => number): { type: string; args: unknown } {
  const r = next()
  const plugin = next() < 0.5 ? 'alpha' : 'beta'
  const id = Math.floor(next() * 4)
  if (r < 0.35) {
    const type = BUILT_IN_TYPES[Math.floor(next() * BUILT_IN_TYPES.length)]
    const cause = ['shutdown', 'disabled', 'policy'][Math.floor(next() * 3)]
    return { type, args: { plugin, id, pid: 1000 + id, threadId: 0, cause, error: null } }
  }
  if (r < 0.65) return { type: 'alpha/add', args: { n: Math.floor(next() * 10) } }
  if (r < 0.7) return { type: 'alpha/reset', args: {} }
  return { type: 'beta/push', args: { v: Math.floor(next() * 20) } }
}

/** The replica folded from `entries` with the given handlers, from `start`. */
function fold(entries: LogEntry[], handlersOf: (p: string) => CoordinationMap | undefined, start: Replica = EMPTY_REPLICA): Replica {
  return entries.reduce((r, e) => applyEntry(r, e, handlersOf).next, start)
}

describe('coordination log: determinism', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'outrigger-coord-'))
  })
  afterEach(() => rm(dir, { recursive: true, force: true }))

  for (const seed of [1, 7, 42, 1234, 98765]) {
    it(`rebuilding from the log, from any snapshot, after a restart, and in each instance gives the live replica (seed ${seed})`, async () => {
      const next = rng(seed)
      const snapshotEvery = 3 + Math.floor(next() * 6)
      const store = new LmdbLogStore(path.join(dir, 'log'))
      const log = new CoordinationLog({ store, snapshotEvery, handlersOf: onlyAlpha })
      await log.open()
      const count = 60 + Math.floor(next() * 80)
      for (let i = 0; i < count; i++) {
        const { type, args } = randomEntry(next)
        await log.append(type, args)
      }
      const entries = await log.read(1, 10_000)
      assert.equal(entries.length, count)
      assert.deepEqual(entries.map((e) => e.seq), entries.map((_, i) => i + 1), 'seqs have no gaps')
      const live = log.replica
      const full = fold(entries, all)

      // From the log, from {}: the supervisor's replica (alpha and the built-ins).
      assert.deepEqual(fold(entries, onlyAlpha), live)
      // From every snapshot kept, replaying what follows it.
      const snaps = await store.snapshots(100)
      assert.ok(snaps.length > 0, 'snapshots were written')
      for (const s of snaps) {
        // Every snapshotEvery entries, and at each stop that dropped a plugin's namespace.
        const at = entries[s.seq - 1]
        const { plugin, cause } = at.args as { plugin?: string; cause?: string }
        const dropped = at.type === 'plugin/stopped' && cause === 'disabled' && s.replica.plugins?.[plugin!]?.since === s.seq
        assert.ok(s.seq % snapshotEvery === 0 || dropped, `a snapshot at ${s.seq} (${at.type})`)
        assert.deepEqual(fold(entries.slice(s.seq), onlyAlpha, s.replica), live, `from the snapshot at ${s.seq}`)
      }
      // The built-in part agrees whoever applies it; alpha's namespace as the full replica has it.
      assert.deepEqual(projection(live, 'alpha'), projection(full, 'alpha'))
      assert.deepEqual(liveInstances(live, 'beta'), liveInstances(full, 'beta'))

      // Each beta instance, caught up from a random point with batches of random sizes, holds
      // the built-ins and beta's namespace only, as the full replica has them.
      for (let inst = 0; inst < 3; inst++) {
        const w = new WorkerCoordination('beta', inst, async () => 0, () => undefined)
        w.use(beta)
        const from = inst === 0 ? 0 : snaps[Math.floor(next() * snaps.length)].seq
        const at = fold(entries.slice(0, from), all)
        let first = true
        let pos = from
        while (first || pos < count) {
          const size = 1 + Math.floor(next() * 20)
          const slice = entries.slice(pos, pos + size)
          const upTo = slice.length ? slice[slice.length - 1].seq : pos
          const sent = slice.filter((e) => e.type.startsWith('beta/') || BUILT_IN_TYPES.includes(e.type as never))
          const reply = w.apply({ entries: sent, upTo, snapshotEvery, ...(first ? { reset: { seq: from, replica: withMeta(projection(at, 'beta'), 'beta', at.meta?.beta) } } : {}) })
          first = false
          assert.equal(reply.applied, upTo)
          const thirteens = sent.filter((e) => e.type === 'beta/push' && (e.args as { v: number }).v === 13)
          assert.equal(reply.failures.length, thirteens.length, 'every entry whose apply throws is reported')
          // What the instance reports at each snapshot seq is beta's namespace there.
          for (const s of reply.snapshots) assert.deepEqual(s.meta, fold(entries.slice(0, s.seq), all).meta?.beta, `namespace at ${s.seq}`)
          pos += size
        }
        assert.deepEqual(w.api.replica(), projection(full, 'beta'), `instance ${inst} from ${from}`)
        assert.equal(w.api.applied(), count)
      }

      // A restart: the log reopens where it stood and goes on.
      await log.close()
      await store.close()
      const store2 = new LmdbLogStore(path.join(dir, 'log'))
      const again = new CoordinationLog({ store: store2, snapshotEvery, handlersOf: onlyAlpha })
      await again.open()
      assert.equal(again.head, count)
      assert.deepEqual(again.replica, live)
      const e = await again.append('alpha/add', { n: 5 })
      assert.equal(e.seq, count + 1)
      await again.close()
      await store2.close()
    })
  }

  it('refuses an entry whose apply throws in the supervisor, appending nothing and changing nothing', async () => {
    const store = new LmdbLogStore(path.join(dir, 'log'))
    const handlers: CoordinationMap = { 'gamma/x': { apply: (a: { ok: boolean }) => { if (!a.ok) throw new Error('bad x'); return { ok: true } } } }
    const log = new CoordinationLog({ store, snapshotEvery: 10, handlersOf: (p) => (p === 'gamma' ? handlers : undefined) })
    await log.open()
    await log.append('gamma/x', { ok: true })
    const before = log.replica
    await assert.rejects(log.append('gamma/x', { ok: false }), (err: OutriggerError) => err.code === 'RIG_ERR_COORD_HANDLER' && /plugin "gamma"/.test(err.message) && /"gamma\/x"/.test(err.message) && /bad x/.test(err.message))
    assert.equal(log.head, 1)
    assert.equal(log.replica, before)
    await log.close()
    await store.close()
  })

  it('refuses an append before the log is open, so a restart never writes over the old log', async () => {
    const store = new LmdbLogStore(path.join(dir, 'log'))
    const log = new CoordinationLog({ store, snapshotEvery: 10, handlersOf: () => undefined })
    await assert.rejects(log.append('early/x', {}), (err: OutriggerError) => err.code === 'RIG_ERR_CLOSED' && /not open yet/.test(err.message))
    await log.open()
    assert.equal((await log.append('early/x', {})).seq, 1)
    await log.close()
    await store.close()
  })

  it('a replica is frozen: a plugin that changes it in place fails instead of diverging', () => {
    const r = applyEntry(EMPTY_REPLICA, { seq: 1, type: 'instance/joined', args: { plugin: 'p', id: 0, pid: 1 }, at: 0 }, () => undefined).next
    const sneaky: CoordinationMap = { 'p/x': { apply: (_a, rep: Replica) => { (rep.plugins as Record<string, unknown>).p = null; return 1 } } }
    const out = applyEntry(r, { seq: 2, type: 'p/x', args: {}, at: 0 }, () => sneaky)
    assert.equal(out.failure?.stage, 'apply')
    assert.equal(out.next, r)
    assert.equal(liveInstances(r, 'p').length, 1)
  })
})
