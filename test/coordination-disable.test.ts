/**
 * A plugin disabled while the host runs (`sup.stopPlugin`, `plugins disable --now`) leaves the
 * log one `plugin/stopped` with cause `disabled`, and its namespace goes with it everywhere; a
 * later `plugins enable --now` starts it from an empty namespace. A plain shutdown still says
 * `shutdown`, a restart policy that gives up `policy`.
 */
import assert from 'node:assert/strict'
import { mkdir, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import type { LogEntry, Replica } from '../src/coordination/types.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { rig, startHost, workspace } from './helpers/cli-run.js'
import { PluginDir, core, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

/** `tally/add` sums into its namespace; `strict` code refuses entries of the old code (n ≥ 100). */
const tally = (strict = false) => `
export default (ctx) => ({
  coordination: {
    'tally/add': { apply: (a, r) => { ${strict ? "if (a.n >= 100) throw new Error('an entry from before the disable was replayed')" : ''}; return { total: (r.meta?.tally?.total ?? 0) + a.n } } },
  },
  functions: {
    add: (n) => ctx.coordination.append('tally/add', { n }),
    replica: () => ctx.coordination.replica(),
  },
})`

/** Another plugin's view: its instance's replica. */
const WATCH = `export default (ctx) => ({ functions: { replica: () => ctx.coordination.replica() } })`

type Tally = { meta?: { tally?: { total: number } } }

const stops = async (sup: Supervisor, plugin: string): Promise<string[]> =>
  (await sup.coordination.log.read(1, 1e6)).filter((e) => e.type === 'plugin/stopped' && (e.args as { plugin: string }).plugin === plugin).map((e) => (e.args as { cause: string }).cause)

async function caughtUp(sup: Supervisor, plugin: string, count: number): Promise<void> {
  await until(`every instance of ${plugin} applied the log`, () => {
    const s = sup.status()
    const up = s.plugins.find((x) => x.name === plugin)?.instances.filter((i) => i.state === 'running') ?? []
    return s.log!.committed === s.log!.head && up.length === count && up.every((i) => i.appliedSeq === s.log!.committed)
  }, 20_000)
}

/** Each instance's answer (calls go round-robin, so `count` calls reach every one of `count`). */
const everyReplica = (sup: Supervisor, count: number) => Promise.all(Array.from({ length: count }, () => sup.call<Tally>('tally.replica')))

describe('a plugin disabled live, in the coordination log', () => {
  let dir: PluginDir
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  for (const isolation of ['thread', 'process'] as const) {
    it(`a ${isolation} worker plugin: one plugin/stopped "disabled", its namespace gone everywhere, and enable starts it empty`, async () => {
      await dir.add('tally', worker('tally', { isolation, instances: 2 }), tally())
      await dir.add('watch', worker('watch', { isolation: 'thread' }), WATCH)
      const sup = await dir.start()
      await caughtUp(sup, 'tally', 2)
      await sup.call('tally.add', 5)
      await caughtUp(sup, 'tally', 2)
      for (const r of await everyReplica(sup, 2)) assert.equal(r.meta?.tally?.total, 5)

      await sup.stopPlugin('tally')
      assert.deepEqual(await stops(sup, 'tally'), ['disabled'], 'one stop, and not the state change\'s "policy"')
      const rec = sup.coordination.log.replica.plugins!.tally
      assert.equal(rec.state, 'stopped')
      assert.deepEqual(rec.instances, {})
      assert.equal(sup.coordination.log.replica.meta?.tally, undefined)
      await until('the other plugin applied the stop', async () => (await sup.call<Replica>('watch.replica')).plugins?.tally?.state === 'stopped')
      assert.equal((await sup.call<Replica>('watch.replica')).meta?.tally, undefined)

      await sup.startPlugin('tally')
      await caughtUp(sup, 'tally', 2)
      for (const r of await everyReplica(sup, 2)) assert.equal(r.meta?.tally, undefined, 'a fresh start: the old total went with the disable')
      await sup.call('tally.add', 2)
      await caughtUp(sup, 'tally', 2)
      for (const r of await everyReplica(sup, 2)) assert.equal(r.meta?.tally?.total, 2)

      await sup.stop()
      assert.deepEqual(await stops(sup, 'tally'), ['disabled', 'shutdown'])
      assert.deepEqual(await stops(sup, 'watch'), ['shutdown'])
    })
  }

  it('the disable is a snapshot: the plugin enabled again starts there, and its new code never sees the old entries', async () => {
    await dir.add('tally', worker('tally', { isolation: 'thread' }), tally())
    // No snapshot is due in this test but the disable's own.
    const sup = await dir.start({ config: { coordination: { snapshotEvery: 1000 } } })
    await caughtUp(sup, 'tally', 1)
    await sup.call('tally.add', 100)
    await sup.stopPlugin('tally')
    // Replayed, an old entry would throw in the new apply, and that marks the plugin failed.
    await writeFile(path.join(dir.root, 'available', 'tally', 'index.js'), tally(true))
    await sup.startPlugin('tally')
    await caughtUp(sup, 'tally', 1)
    await sup.call('tally.add', 3)
    await caughtUp(sup, 'tally', 1)
    assert.equal((await sup.call<Tally>('tally.replica')).meta?.tally?.total, 3)
    const p = sup.status().plugins.find((x) => x.name === 'tally')!
    assert.equal(p.state, 'running', JSON.stringify(p.lastError))
    assert.equal(p.lastError, null)
  })

  it('a core plugin: one plugin/stopped "disabled", its namespace gone from the replica every core plugin reads, and enable starts it empty', async () => {
    const keep = `
      let ctx
      export default {
        init(c) { ctx = c },
        coordination: { 'keep/set': { apply: (a) => ({ v: a.v }) } },
        functions: { set: (v) => ctx.coordination.append('keep/set', { v }), replica: () => ctx.coordination.replica() },
      }`
    await dir.add('keep', core('keep', { reloadable: true }), keep)
    await dir.add('peer', core('peer'), `let ctx; export default { init(c) { ctx = c }, functions: { replica: () => ctx.coordination.replica() } }`)
    const sup = await dir.start()
    await sup.call('keep.set', 4)
    assert.deepEqual((await sup.call<Replica>('peer.replica')).meta?.keep, { v: 4 })

    await sup.stopPlugin('keep')
    assert.deepEqual(await stops(sup, 'keep'), ['disabled'])
    assert.equal(sup.coordination.log.replica.meta?.keep, undefined)
    assert.equal((await sup.call<Replica>('peer.replica')).meta?.keep, undefined)
    assert.equal(sup.coordination.log.replica.plugins!.keep.state, 'stopped')

    await sup.startPlugin('keep')
    assert.equal((await sup.call<Replica>('keep.replica')).meta?.keep, undefined)
    await sup.call('keep.set', 7)
    assert.deepEqual(sup.coordination.log.replica.meta?.keep, { v: 7 })
    await sup.stop()
    assert.deepEqual(await stops(sup, 'keep'), ['disabled', 'shutdown'])
    assert.deepEqual(await stops(sup, 'peer'), ['shutdown'])
  })

  it('a restart policy that gives up says "policy"; disabling the plugin then says "disabled" once', async () => {
    await dir.add('tally', worker('tally', { isolation: 'process', restart: { policy: 'temporary' } }), tally())
    const sup = await dir.start()
    await caughtUp(sup, 'tally', 1)
    await sup.call('tally.add', 1)
    process.kill(sup.status().plugins[0].instances[0].pid!, 'SIGKILL')
    await until('the policy left it stopped', async () => (await stops(sup, 'tally')).length === 1)
    assert.deepEqual(await stops(sup, 'tally'), ['policy'])
    await sup.stopPlugin('tally')
    assert.deepEqual(await stops(sup, 'tally'), ['policy', 'disabled'])
  })

  it('a plugin that failed its start is in the log and its disable says so; one whose manifest never loaded is not, and gets nothing', async () => {
    await dir.add('broken', worker('broken', { isolation: 'thread' }), 'export default { nope: 1 }\n')
    await dir.add('invalid', worker('invalid', { isolation: 'thread', instances: 'two' }))
    const sup = await dir.start()
    for (const name of ['broken', 'invalid']) assert.equal(sup.status().plugins.find((p) => p.name === name)!.state, 'failed')
    const about = async (plugin: string) => (await sup.coordination.log.read(1, 1e6)).filter((e) => (e.args as { plugin?: string }).plugin === plugin).map((e) => e.type)
    await until('the failed start is in the log', async () => (await about('broken')).length === 1)
    assert.deepEqual(await about('broken'), ['plugin/failed'])
    assert.deepEqual(await about('invalid'), [])
    await sup.stopPlugin('broken')
    await sup.stopPlugin('invalid')
    assert.deepEqual(await stops(sup, 'broken'), ['disabled'])
    assert.deepEqual(await about('invalid'), [])
    assert.equal(sup.coordination.log.replica.plugins?.invalid, undefined)
  })
})

describe('plugins disable --now and log tail --json', () => {
  let ws: Awaited<ReturnType<typeof workspace>>
  let sup: Supervisor | undefined
  const app = `coord-disable-${process.pid}`
  beforeEach(async () => {
    ws = await workspace([])
  })
  afterEach(async () => {
    await sup?.stop()
    await ws.cleanup()
  })

  it('the log a face reads says "disabled", and the namespace is empty after enable --now', async () => {
    const dir = path.join(ws.root, 'plugins', 'available', 'tally')
    await mkdir(dir)
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(worker('tally', { isolation: 'process' })))
    await writeFile(path.join(dir, 'index.js'), tally())
    await symlink(path.join('..', 'available', 'tally'), path.join(ws.enabled, 'tally'), 'dir')
    sup = await startHost(app, ws)
    await caughtUp(sup, 'tally', 1)
    await sup.call('tally.add', 9)
    const off = await rig(['--app', app, 'plugins', 'disable', 'tally', '--now', '--plugins', ws.enabled], { runtimeDir: ws.runtimeDir })
    assert.equal(off.code, 0, off.stderr)
    const tail = await rig(['--app', app, 'log', 'tail', '--from', '1', '--type', 'plugin/stopped', '--json'], { runtimeDir: ws.runtimeDir })
    assert.equal(tail.code, 0, tail.stderr)
    const lines = tail.stdout.trim().split('\n').map((l) => JSON.parse(l) as LogEntry)
    assert.deepEqual(lines.map((e) => e.args), [{ plugin: 'tally', cause: 'disabled' }])

    const on = await rig(['--app', app, 'plugins', 'enable', 'tally', '--now', '--plugins', ws.enabled], { runtimeDir: ws.runtimeDir })
    assert.equal(on.code, 0, on.stderr)
    await caughtUp(sup, 'tally', 1)
    const rep = await rig(['--app', app, 'log', 'replica', '--plugin', 'tally', '--json'], { runtimeDir: ws.runtimeDir })
    assert.equal(rep.code, 0, rep.stderr)
    const replica = JSON.parse(rep.stdout) as Replica
    assert.equal(replica.plugins?.tally?.state, 'started')
    assert.equal(replica.meta?.tally, undefined)
  })
})
