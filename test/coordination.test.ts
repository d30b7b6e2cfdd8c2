import assert from 'node:assert/strict'
import { writeFile, mkdir } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { liveInstances } from '../src/coordination/builtin.js'
import type { LogEntry, Replica } from '../src/coordination/types.js'
import { OutriggerError } from '../src/errors.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { PluginDir, core, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

const isCode = (code: string, ...words: RegExp[]) => (err: unknown) => err instanceof OutriggerError && err.code === code && words.every((w) => w.test(err.message))

/**
 * A worker plugin with entries of its own: `tally/add` counts into its namespace; every instance
 * reacts to `tally/ping` by proposing the same `tally/pong`; side effects record which instance
 * saw what. Its functions let the test drive it from the host.
 */
const TALLY = `
const effects = []
export default (ctx) => ({
  coordination: {
    'tally/add': {
      apply: (a, r) => ({ total: (r.meta?.tally?.total ?? 0) + a.n, limit: r.meta?.tally?.limit ?? Infinity, ...(a.n > (r.meta?.tally?.limit ?? Infinity) ? (() => { throw new Error('over the limit ' + r.meta.tally.limit) })() : {}) }),
      sideEffects: (a, old, next, diff, state) => { effects.push({ type: 'tally/add', instance: a.instance ?? null }); return state },
    },
    'tally/limit': { apply: (a, r) => ({ ...(r.meta?.tally ?? { total: 0 }), limit: a.limit }) },
    'tally/ping': { reactions: (a) => [{ type: 'tally/pong', args: { to: a.n } }] },
    'tally/pong': {},
    'instance/joined': { sideEffects: (a) => { effects.push({ type: 'instance/joined', id: a.id }) } },
  },
  functions: {
    append: ({ type, args }) => ctx.coordination.append(type, args),
    appendBoth: async ({ first, second }) => { const a = ctx.coordination.append(first.type, first.args); const b = ctx.coordination.append(second.type, second.args); return Promise.all([a, b]) },
    replica: () => ctx.coordination.replica(),
    applied: () => ctx.coordination.applied(),
    effects: () => effects,
  },
})`

async function entries(sup: Supervisor): Promise<LogEntry[]> {
  return sup.coordination.log.read(1, 100_000)
}

async function caughtUp(sup: Supervisor, plugin: string, count: number): Promise<void> {
  await until(`every instance of ${plugin} applied the log`, () => {
    const s = sup.status()
    const p = s.plugins.find((x) => x.name === plugin)!
    const up = p.instances.filter((i) => i.state === 'running')
    return s.log!.committed === s.log!.head && up.length === count && up.every((i) => i.appliedSeq === s.log!.committed)
  }, 20_000)
}

describe('coordination log in a supervisor', () => {
  let dir: PluginDir
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  for (const isolation of ['thread', 'process'] as const) {
    it(`appends the built-in entries, replicates to every ${isolation} instance, and shows the head and each applied seq`, async () => {
      await dir.add('tally', worker('tally', { isolation, instances: 2 }), TALLY)
      await dir.add('watch', core('watch'), `export default { coordination: { 'watch/note': { apply: (a) => a } } }`)
      const sup = await dir.start()
      await caughtUp(sup, 'tally', 2)
      const types = (await entries(sup)).map((e) => `${e.type} ${(e.args as { plugin: string }).plugin}`)
      assert.ok(types.includes('plugin/started tally') && types.includes('plugin/started watch'), types.join(', '))
      assert.equal(types.filter((t) => t === 'instance/joined tally').length, 2)
      assert.deepEqual(liveInstances(sup.coordination.log.replica, 'tally'), [0, 1])
      const status = sup.status()
      assert.equal(status.log!.head, (await entries(sup)).length)

      // Own entries travel to both instances; each applies them itself.
      const seq = await sup.call<number>('tally.append', { type: 'tally/add', args: { n: 3 } })
      await sup.call('tally.append', { type: 'tally/add', args: { n: 4 } })
      assert.ok(seq > 0)
      await caughtUp(sup, 'tally', 2)
      const replica = await sup.coordination.replica('tally')
      assert.deepEqual((replica.meta as { tally: { total: number } }).tally.total, 7)
      // The supervisor holds no worker plugin's namespace; an instance holds no other plugin's.
      assert.equal(sup.coordination.log.replica.meta?.tally, undefined)
      assert.equal(replica.meta?.watch, undefined)
      assert.deepEqual(Object.keys(replica.plugins ?? {}).sort(), ['tally', 'watch'])
    })
  }

  it('appends a reaction that every instance proposes once, and runs side effects only in the instance concerned', async () => {
    await dir.add('tally', worker('tally', { instances: 3 }), TALLY)
    const sup = await dir.start()
    await caughtUp(sup, 'tally', 3)
    const ping = await sup.call<number>('tally.append', { type: 'tally/ping', args: { n: 1 } })
    await until('the pong is appended', async () => (await entries(sup)).some((e) => e.type === 'tally/pong'))
    await caughtUp(sup, 'tally', 3)
    const pongs = (await entries(sup)).filter((e) => e.type === 'tally/pong')
    assert.equal(pongs.length, 1, 'three instances proposed it, it was appended once')
    assert.ok(pongs[0].seq > ping)

    await sup.call('tally.append', { type: 'tally/add', args: { n: 1, instance: 2 } })
    await sup.call('tally.append', { type: 'tally/add', args: { n: 1 } })
    await caughtUp(sup, 'tally', 3)
    // Each instance answers `effects` for itself: ask until every instance id has been heard.
    const seen = new Map<number, Array<{ type: string; instance?: number | null; id?: number }>>()
    await until('every instance told its side effects', async () => {
      const effects = await sup.call<Array<{ type: string; instance?: number | null; id?: number }>>('tally.effects')
      const joined = effects.find((e) => e.type === 'instance/joined')
      if (joined?.id !== undefined) seen.set(joined.id, effects)
      return seen.size === 3
    })
    for (const [id, effects] of seen) {
      assert.deepEqual(effects.filter((e) => e.type === 'instance/joined').map((e) => e.id), [id], 'only its own join concerns it')
      const adds = effects.filter((e) => e.type === 'tally/add').map((e) => e.instance)
      assert.deepEqual(adds, id === 2 ? [2, null] : [null], `instance ${id}`)
    }
  })

  it('refuses an entry of another namespace, one over 64 KiB, and one whose apply throws, appending none', async () => {
    await dir.add('tally', worker('tally', { isolation: 'process' }), TALLY)
    const sup = await dir.start()
    await caughtUp(sup, 'tally', 1)
    await sup.call('tally.append', { type: 'tally/limit', args: { limit: 10 } })
    const head = sup.coordination.log.head
    await assert.rejects(sup.call('tally.append', { type: 'other/x', args: {} }), isCode('RIG_ERR_COORD_ENTRY', /"other\/x"/, /begin with its name/))
    await assert.rejects(sup.call('tally.append', { type: 'plugin/started', args: { plugin: 'tally' } }), isCode('RIG_ERR_COORD_ENTRY'))
    await assert.rejects(sup.call('tally.append', { type: 'tally/add', args: { n: 1, blob: 'x'.repeat(65 * 1024) } }), isCode('RIG_ERR_COORD_ENTRY_TOO_LARGE', /64|65536/))
    await assert.rejects(sup.call('tally.append', { type: 'tally/add', args: { n: 11 } }), isCode('RIG_ERR_COORD_HANDLER', /plugin "tally"/, /"tally\/add"/, /over the limit 10/))
    assert.equal(sup.coordination.log.head, head, 'nothing was appended')
    assert.equal(sup.status().plugins[0].state, 'running', 'a refused proposal fails nobody')
  })

  it('a throw in apply on an entry already in the log leaves every replica unchanged and marks the plugin failed, once', async () => {
    await dir.add('tally', worker('tally', { instances: 2 }), TALLY)
    const sup = await dir.start()
    await caughtUp(sup, 'tally', 2)
    await sup.call('tally.append', { type: 'tally/add', args: { n: 5 } })
    await caughtUp(sup, 'tally', 2)
    const before = await sup.coordination.replica('tally')
    // Both are tried against the replica as it stands (no limit yet), so both pass; in the log
    // the limit comes first, and the add then throws in every instance.
    await sup.call('tally.appendBoth', { first: { type: 'tally/limit', args: { limit: 2 } }, second: { type: 'tally/add', args: { n: 7 } } })
    await until('the plugin is failed', () => sup.status().plugins[0].state === 'failed')
    const p = sup.status().plugins[0]
    assert.equal(p.lastError?.code, 'RIG_ERR_COORD_HANDLER')
    assert.match(p.lastError!.message, /plugin "tally": its apply of entry "tally\/add" \(seq \d+\) threw: over the limit 2/)
    assert.equal(p.restarts, 0, 'no crash loop: nothing restarts')
    await caughtUp(sup, 'tally', 2)
    const after = (await sup.coordination.replica('tally')) as Replica & { meta: { tally: { total: number; limit: number } } }
    assert.equal(after.meta.tally.total, (before.meta as { tally: { total: number } }).tally.total, 'the add was skipped')
    assert.equal(after.meta.tally.limit, 2)
    await until('plugin/failed is in the log', async () => (await entries(sup)).some((e) => e.type === 'plugin/failed' && (e.args as { plugin: string }).plugin === 'tally'))
  })

  it('a core plugin gets the same ctx.coordination in process; a throw in its reactions marks it failed', async () => {
    await dir.add('keeper', core('keeper'), `
      let ctx
      export default {
        init(c) { ctx = c },
        coordination: {
          'keeper/set': { apply: (a) => { if (a.v < 0) throw new Error('negative'); return { v: a.v } }, diff: (a, o, n) => ({ from: o.meta?.keeper?.v ?? null, to: n.meta.keeper.v }) },
          'instance/joined': { reactions: (a) => { if (a.plugin === 'bad') throw new Error('no joins please'); return [] } },
        },
        functions: {
          set: (v) => ctx.coordination.append('keeper/set', { v }),
          replica: () => ctx.coordination.replica(),
          seen: () => globalThis.__keeperSeen ?? [],
        },
        whenReady(c) { c.coordination.on('keeper/set', (a, { diff }) => { (globalThis.__keeperSeen ??= []).push(diff) }) },
      }`)
    const sup = await dir.start()
    await sup.call('keeper.set', 4)
    await sup.call('keeper.set', 6)
    await assert.rejects(sup.call('keeper.set', -1), isCode('RIG_ERR_COORD_HANDLER', /plugin "keeper"/, /negative/))
    assert.deepEqual((sup.coordination.log.replica.meta as { keeper: unknown }).keeper, { v: 6 })
    await until('the side effects ran', async () => (await sup.call<unknown[]>('keeper.seen')).length === 2)
    assert.deepEqual(await sup.call('keeper.seen'), [{ from: null, to: 4 }, { from: 4, to: 6 }])
    assert.equal(sup.status().plugins.find((p) => p.name === 'keeper')!.state, 'running')
    delete (globalThis as { __keeperSeen?: unknown }).__keeperSeen
  })

  it('refuses a definition whose coordination key names another namespace or sets apply on a built-in type', async () => {
    await dir.add('sly', worker('sly'), `export default { coordination: { 'other/x': { apply: () => 1 }, 'instance/left': { apply: () => 1 } } }`)
    await dir.add('sly2', core('sly2'), `export default { coordination: { 'sly2/x': { apply: 5 } } }`)
    const sup = await dir.start()
    const sly = sup.status().plugins.find((p) => p.name === 'sly')!
    assert.equal(sly.state, 'failed')
    assert.match(sly.lastError!.message, /coordination\["other\/x"\]: an entry type must begin with the plugin's own name \("sly\/<type>"\)/)
    assert.match(sly.lastError!.message, /coordination\["instance\/left"\]\.apply: the supervisor applies its built-in entries/)
    const sly2 = sup.status().plugins.find((p) => p.name === 'sly2')!
    assert.match(sly2.lastError!.message, /coordination\["sly2\/x"\]\.apply must be a function/)
  })

  it('a restarted supervisor resumes the log and the replica; entries appended while an instance was down reach it', async () => {
    await dir.add('tally', worker('tally', { isolation: 'process', instances: 2, restart: { backoffMs: { initial: 1500, max: 1500 } } }), TALLY)
    const config = { coordination: { snapshotEvery: 5 } }
    let sup = await dir.start({ config })
    await caughtUp(sup, 'tally', 2)
    for (let n = 1; n <= 8; n++) await sup.call('tally.append', { type: 'tally/add', args: { n } })
    await caughtUp(sup, 'tally', 2)
    const head = sup.coordination.log.head
    await sup.stop()

    sup = await dir.start({ config })
    await caughtUp(sup, 'tally', 2)
    const resumed = await entries(sup)
    assert.ok(resumed.length > head, 'the log goes on after the old head')
    assert.deepEqual(resumed.map((e) => e.seq), resumed.map((_, i) => i + 1))
    const stopped = resumed.slice(head).filter((e) => ['instance/left', 'plugin/stopped'].includes(e.type)).map((e) => e.type)
    assert.deepEqual(stopped.slice(0, 3), ['instance/left', 'instance/left', 'plugin/stopped'], 'the stop is in the log')
    assert.ok(resumed.slice(head).some((e) => e.type === 'plugin/stopped' && (e.args as { cause: string }).cause === 'shutdown'))
    const total = async () => ((await sup.coordination.replica('tally')).meta as { tally: { total: number } }).tally.total
    assert.equal(await total(), 36, 'each new instance caught up from a snapshot and the entries after it')

    // SIGKILL instance 1; while it waits out its backoff, entries are appended.
    const victim = sup.status().plugins[0].instances[1].pid
    process.kill(victim, 'SIGKILL')
    await until('instance 1 is down', () => sup.status().plugins[0].instances[1].state === 'restarting')
    for (let n = 0; n < 3; n++) await sup.call('tally.append', { type: 'tally/add', args: { n: 10 } })
    const left = (await entries(sup)).filter((e) => e.type === 'instance/left').at(-1)!
    assert.equal((left.args as { id: number }).id, 1)
    assert.match((left.args as { cause: string }).cause, /SIGKILL/)
    await until('instance 1 is back', () => sup.status().plugins[0].instances[1].pid !== victim && sup.status().plugins[0].instances[1].state === 'running', 20_000)
    await caughtUp(sup, 'tally', 2)
    // Ask until instance 1 answers (calls go round-robin).
    await until('both instances hold the three adds', async () => (await sup.call<Replica>('tally.replica')).meta && ((await sup.call<{ meta: { tally: { total: number } } }>('tally.replica')).meta.tally.total === 66))
    const replicas = await Promise.all([0, 1, 2, 3].map(() => sup.call<{ meta: { tally: { total: number } } }>('tally.replica')))
    for (const r of replicas) assert.equal(r.meta.tally.total, 66)
  })

  it('cannot open a log where the state folder holds a file in its place', async () => {
    await mkdir(dir.stateDir, { recursive: true })
    await writeFile(path.join(dir.stateDir, 'coordination'), 'not a folder')
    await assert.rejects(dir.start(), isCode('RIG_ERR_COORD_LOG', /coordination/))
  })
})
