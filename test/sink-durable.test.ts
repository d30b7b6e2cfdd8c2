/**
 * A durable worker plugin's sink keeps the events it is still gathering: they are in the journal
 * from the moment they are accepted, so a host SIGKILLed while a batch is open loses none of them,
 * and the restart gathers them again (src/delivery/durable-sink.ts). The real `outrigger start`
 * binary, a process plugin, real SIGKILLs; the journal on disk is read beside the running host.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { open } from 'lmdb'
import { gatheredFor } from '../src/delivery/durable-sink.js'
import { decodeBatch } from '../src/delivery/journal-codec.js'
import type { OutriggerError } from '../src/errors.js'
import type { PluginStatus } from '../src/supervisor/status-types.js'
import { rig, spawnCli } from './helpers/cli-run.js'
import { PluginDir, core, worker } from './helpers/plugins.js'
import { alive, until } from './helpers/wait.js'

/** A core plugin that emits `log:x` { i } for i = from … from + n - 1 when called. */
const GEN = `
  let c
  export default {
    init(ctx) { c = ctx },
    functions: { burst({ from, n }) { for (let i = from; i < from + n; i++) c.emit('log:x', { i }); return n } },
  }`

/** The sink: its batch settings from batch.json beside it (rewritten between runs); one line per event written. */
const STORE = `
  import { appendFileSync, readFileSync } from 'node:fs'
  const batch = JSON.parse(readFileSync(new URL('./batch.json', import.meta.url), 'utf8'))
  export default { sinks: { 'log:*': { batch, write(items, ctx) {
    appendFileSync(ctx.dataDir + '/written.log', items.map((e) => e.payload.i).join('\\n') + '\\n')
  } } } }`

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

describe('durable sinks', () => {
  let dir: PluginDir
  const pids = new Set<number>()
  beforeEach(async () => {
    dir = await PluginDir.create('outrigger-sink-durable-')
  })
  afterEach(async () => {
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
    pids.clear()
    await dir.remove()
  })

  const batchFile = () => path.join(dir.root, 'available', 'store', 'batch.json')
  const written = async (): Promise<number[]> => (await readFile(path.join(dir.stateDir, 'data', 'store', 'written.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number)

  /** What the journal on disk holds now, unacked: the ids gathered one by one, and the batches. */
  async function onDisk(): Promise<{ gathered: number[]; batches: number[][] }> {
    const env = open({ path: path.join(dir.stateDir, 'journal', 'store'), readOnly: true, compression: false })
    const gathered: number[] = []
    const batches: number[][] = []
    try {
      const records = env.openDB<Buffer, number>({ name: 'records', encoding: 'binary' })
      const acked = env.openDB<Buffer, number>({ name: 'acked', encoding: 'binary' })
      for (const { key, value } of records.getRange()) {
        const noted = acked.get(key)
        decodeBatch(value).forEach((e, i) => {
          if (!e || noted?.[i]) return
          if (gatheredFor(e.meta) !== undefined) gathered.push((e.payload as { i: number }).i)
          else batches.push((e.payload as Array<{ payload: { i: number } }>).map((x) => x.payload.i))
        })
      }
    } finally {
      await env.close()
    }
    return { gathered: gathered.sort((a, b) => a - b), batches }
  }

  /** `outrigger start` on the folder, running; its exit, signal or code. */
  async function host(app: string): Promise<{ child: ChildProcess; exited: Promise<NodeJS.Signals | number | null>; runtimeDir: string; out: () => string }> {
    const cli = await spawnCli(dir.root, app, { journal: { commitMs: 5 }, timeouts: { drainMs: 10_000 } })
    pids.add(cli.child.pid!)
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) => cli.child.once('exit', (code, signal) => resolve(signal ?? code)))
    await until('the supervisor to run', () => /running: /.test(cli.io.out()), 20_000)
    return { child: cli.child, exited, runtimeDir: cli.runtimeDir, out: cli.io.out }
  }

  async function status(app: string, runtimeDir: string): Promise<PluginStatus> {
    const r = await rig(['status', '--json', '--app', app], { runtimeDir })
    assert.equal(r.code, 0, r.stderr)
    const p = (JSON.parse(r.stdout) as { plugins: PluginStatus[] }).plugins.find((x) => x.name === 'store')!
    for (const i of p.instances) if (i.pid) pids.add(i.pid)
    return p
  }

  const burst = async (app: string, runtimeDir: string, from: number, n: number) => {
    const r = await rig(['call', 'gen.burst', JSON.stringify({ from, n }), '--app', app], { runtimeDir })
    assert.equal(r.code, 0, r.stderr)
  }

  const sink = (p: PluginStatus) => p.sinks?.['log:*']

  it('a host SIGKILLed while a batch gathers loses none of its events: the restart gathers them again', async () => {
    await dir.add('gen', core('gen'), GEN)
    await dir.add('store', worker('store', { isolation: 'process', delivery: 'durable' }), STORE, { files: { 'batch.json': JSON.stringify({ max: 100, maxWaitMs: 600_000 }) } })
    const app = `sink-durable-${process.pid}`

    // Run 1: 250 events; two batches of 100 leave and are written, 50 stay gathering.
    const one = await host(app)
    await burst(app, one.runtimeDir, 0, 250)
    await until('two batches written, 50 events gathering', async () => {
      const s = sink(await status(app, one.runtimeDir))
      return s?.written === 2 && s.pending === 50
    }, 20_000)
    // The gathered events are on disk, one by one, and the written batches are gone from it.
    await until('the 50 gathered events committed, the written batches acked', async () => {
      const d = await onDisk()
      return d.batches.length === 0 && d.gathered.length === 50 && d
    }, 10_000)
    assert.deepEqual((await onDisk()).gathered, range(200, 250))
    one.child.kill('SIGKILL')
    assert.equal(await one.exited, 'SIGKILL')

    // Run 2: the 50 are gathered again (not re-appended: still 50 entries on disk), 30 more join
    // them, and the host is SIGKILLed again before the batch leaves.
    const two = await host(app)
    const back = await until('the 50 gathered again', async () => {
      const p = await status(app, two.runtimeDir)
      return sink(p)?.pending === 50 && p
    }, 20_000)
    assert.equal(sink(back)!.written, 0)
    assert.equal(back.events.recovered, 0, 'gathered events read back are not receipts: their batch will be')
    assert.deepEqual((await onDisk()).gathered, range(200, 250))
    await burst(app, two.runtimeDir, 250, 30)
    await until('80 gathering, all on disk', async () => {
      const s = sink(await status(app, two.runtimeDir))
      return s?.pending === 80 && (await onDisk()).gathered.length === 80
    }, 10_000)
    two.child.kill('SIGKILL')
    assert.equal(await two.exited, 'SIGKILL')
    assert.deepEqual(await written(), range(0, 200), 'only the two batches of run 1 were written so far')

    // Run 3, with a short wait: the 80 leave as one batch, and the journal empties.
    await writeFile(batchFile(), JSON.stringify({ max: 100, maxWaitMs: 200 }))
    const three = await host(app)
    await until('every event written', async () => (await written()).length >= 280, 20_000)
    await until('the journal empty', async () => {
      const d = await onDisk()
      return d.gathered.length === 0 && d.batches.length === 0
    }, 10_000)
    const s = sink(await status(app, three.runtimeDir))!
    assert.deepEqual([s.batches, s.events, s.written, s.pending], [1, 80, 1, 0])
    three.child.kill('SIGTERM')
    assert.equal(await three.exited, 0, three.out())

    // At least once is the promise; here every kill came while nothing was in flight, so each
    // event was written exactly once.
    const ids = await written()
    const seen = new Map<number, number>()
    for (const i of ids) seen.set(i, (seen.get(i) ?? 0) + 1)
    const missing = range(0, 280).filter((i) => !seen.has(i))
    const duplicates = ids.length - seen.size
    assert.deepEqual(missing, [], `${missing.length} events lost`)
    assert.equal(duplicates, 0, `${duplicates} events written twice`)
    assert.equal(seen.size, 280)
  })

  it('a clean stop writes what is gathering, and leaves nothing in the journal for the next run', async () => {
    await dir.add('gen', core('gen'), GEN)
    await dir.add('store', worker('store', { isolation: 'process', delivery: 'durable' }), STORE, { files: { 'batch.json': JSON.stringify({ max: 1000, maxWaitMs: 600_000 }) } })
    const app = `sink-durable-stop-${process.pid}`
    const one = await host(app)
    await burst(app, one.runtimeDir, 0, 7)
    await until('7 gathering, on disk', async () => sink(await status(app, one.runtimeDir))?.pending === 7 && (await onDisk()).gathered.length === 7, 10_000)
    one.child.kill('SIGTERM')
    assert.equal(await one.exited, 0, one.out())
    assert.deepEqual(await written(), range(0, 7))
    assert.deepEqual(await onDisk(), { gathered: [], batches: [] })

    // The next run finds nothing to write again.
    const two = await host(app)
    const p = await until('the sink known', async () => {
      const p = await status(app, two.runtimeDir)
      return sink(p) && p
    }, 10_000)
    assert.deepEqual([sink(p)!.pending, p.events.recovered], [0, 0])
    two.child.kill('SIGTERM')
    assert.equal(await two.exited, 0, two.out())
    assert.deepEqual(await written(), range(0, 7))
  })

  it('events gathered for a sink the new code no longer declares end as one dead letter, not lost', async () => {
    await dir.add('gen', core('gen'), GEN)
    await dir.add('store', worker('store', { isolation: 'process', delivery: 'durable', maxAttempts: 1 }), STORE, { files: { 'batch.json': JSON.stringify({ max: 1000, maxWaitMs: 600_000 }) } })
    const app = `sink-durable-gone-${process.pid}`
    const one = await host(app)
    await burst(app, one.runtimeDir, 0, 5)
    await until('5 gathering, on disk', async () => sink(await status(app, one.runtimeDir))?.pending === 5 && (await onDisk()).gathered.length === 5, 10_000)
    one.child.kill('SIGKILL')
    assert.equal(await one.exited, 'SIGKILL')

    // The new code has a hook and no sink: the 5 still leave as a batch of the old sink (default
    // wait), which no hook takes, and become one dead letter, replayable once the sink is back.
    await writeFile(path.join(dir.root, 'available', 'store', 'index.js'), `export default { hooks: { 'other:x'() {} } }`)
    const two = await host(app)
    const letters = await until('the dead letter', async () => {
      const r = await rig(['dead-letters', 'list', 'store', '--json', '--app', app], { runtimeDir: two.runtimeDir })
      const l = JSON.parse(r.stdout) as Array<{ subscription: string; payload: Array<{ payload: { i: number } }> }>
      return l.length > 0 && l
    }, 20_000)
    assert.equal(letters.length, 1)
    assert.equal(letters[0].subscription, 'sinks["log:*"]')
    assert.deepEqual(letters[0].payload.map((e) => e.payload.i), range(0, 5))
    assert.deepEqual(await onDisk(), { gathered: [], batches: [] })
    two.child.kill('SIGTERM')
    assert.equal(await two.exited, 0, two.out())
  })

  it('emitDurable of a gathered event resolves at its commit, not when its batch leaves; a payload that cannot be cloned is refused alone', async () => {
    const file = path.join(dir.root, 'out.log')
    await dir.add('store', worker('store', { delivery: 'durable' }), `
      import { appendFileSync } from 'node:fs'
      export default { sinks: { 'log:*': { batch: { max: 4, maxWaitMs: 600000 }, write(items) {
        appendFileSync(${JSON.stringify(file)}, items.map((e) => e.payload.i).join(' ') + '\\n')
      } } } }`)
    await dir.add('watch', core('watch'), `
      const errors = []
      export default { hooks: { 'hook:onError'(e) { errors.push(e.error.code) } }, functions: { errors: () => errors } }`)
    const sup = await dir.start({ config: { journal: { commitMs: 5 } } })
    const outcome = (p: Promise<void>) => p.then(() => 'committed', (err: OutriggerError) => err.code)
    const row = () => sup.status().plugins.find((p) => p.name === 'store')!.sinks?.['log:*']

    // Committed while its batch is still open (max 4, a wait of ten minutes).
    assert.equal(await outcome(sup.emitDurable('log:x', { i: 0 })), 'committed')
    assert.equal(row()?.pending, 1)
    // Refused at its own commit, while its batch is open: it leaves the batch, alone.
    assert.equal(await outcome(sup.emitDurable('log:x', { i: 1, fn: () => 1 })), 'RIG_ERR_NOT_CLONEABLE')
    assert.equal(row()?.pending, 1)
    // Its batch leaves (max 4, counting it) before its commit: checked as the batch leaves, refused alone.
    const last = [outcome(sup.emitDurable('log:x', { i: 2 })), outcome(sup.emitDurable('log:x', { i: 3, fn: () => 1 })), outcome(sup.emitDurable('log:x', { i: 4 }))]
    assert.deepEqual(await Promise.all(last), ['committed', 'RIG_ERR_NOT_CLONEABLE', 'committed'])
    await until('the batch written', async () => (await readFile(file, 'utf8').catch(() => '')).length > 0)
    assert.equal(await readFile(file, 'utf8'), '0 2 4\n')
    const errors = await until('both refusals told', async () => {
      const e = await sup.call<string[]>('watch.errors')
      return e.length === 2 && e
    })
    assert.deepEqual(errors, ['RIG_ERR_NOT_CLONEABLE', 'RIG_ERR_NOT_CLONEABLE'])
    const s = row()!
    assert.deepEqual([s.batches, s.events, s.pending, s.dropped], [1, 3, 0, 0])
  })
})
