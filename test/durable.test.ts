import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { Journal } from '../src/delivery/journal.js'
import { createMetrics } from '../src/metrics/metrics.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { assertBooks } from './helpers/books.js'
import { parseProm } from './helpers/prom-text.js'
import { PluginDir, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

const plugin = (sup: Supervisor, name = 'keeper') => sup.status().plugins.find((p) => p.name === name)!

/**
 * Appends every id it processes (and its key and sequence) to a file of its own in its dataDir,
 * before the hook returns; `slowMs` makes each event take that long, to leave a backlog at stop.
 */
const keeper = (slowMs = 0) => `
import { appendFileSync } from 'node:fs'
import { threadId } from 'node:worker_threads'
let file
export default {
  init(ctx) { file = ctx.dataDir + '/ids-' + process.pid + '-' + threadId + '.log' },
  hooks: { async 'd:evt'(p) {
    if (${slowMs}) await new Promise((r) => setTimeout(r, ${slowMs}))
    appendFileSync(file, (p.key ?? '') + ' ' + p.id + '\\n')
  } },
}`

/** Every line the keeper wrote, in the order each instance processed them. */
async function processed(dir: PluginDir, name = 'keeper'): Promise<Array<{ key: string; id: number }>> {
  const data = path.join(dir.stateDir, 'data', name)
  const out: Array<{ key: string; id: number }> = []
  if (!existsSync(data)) return out
  for (const f of (await readdir(data)).sort()) {
    for (const line of (await readFile(path.join(data, f), 'utf8')).split('\n')) {
      if (!line) continue
      const [key, id] = line.split(' ')
      out.push({ key, id: Number(id) })
    }
  }
  return out
}

async function journalLeft(dir: PluginDir, name = 'keeper'): Promise<number> {
  const j = Journal.open(path.join(dir.stateDir, 'journal', name))
  try {
    return [...j.recover()].length
  } finally {
    await j.close()
  }
}

describe('durable delivery', () => {
  let dir: PluginDir
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  for (const isolation of ['thread', 'process'] as const) {
    it(`delivers through a journal under <stateDir>/journal/<plugin>, and leaves it empty (${isolation})`, async () => {
      await dir.add('keeper', worker('keeper', { isolation, delivery: 'durable' }), keeper())
      const sup = await dir.start()
      assert.equal(plugin(sup).delivery, 'durable')
      for (let id = 0; id < 2000; id++) sup.emit('d:evt', { id })
      await sup.emitDurable('d:evt', { id: 2000 })
      await sup.flush()
      assert.ok(existsSync(path.join(dir.stateDir, 'journal', 'keeper')))
      await until('all processed', () => plugin(sup).events.processed === 2001)
      const p = plugin(sup)
      assertBooks(p)
      assert.deepEqual([p.events.received, p.events.recovered, p.events.redelivered], [2001, 0, 0])
      await sup.stop()
      assert.equal(await journalLeft(dir), 0, 'every processed event was acked')
      assert.equal(new Set((await processed(dir)).map((e) => e.id)).size, 2001)
    })
  }

  it('keeps what a stop could not drain in the journal, and the next run delivers it first, counted recovered', async () => {
    await dir.add('keeper', worker('keeper', { delivery: 'durable', instances: 2, partitionBy: 'key', queue: { max: 50 } }), keeper(2))
    const first = await dir.start({ config: { timeouts: { drainMs: 100 } } })
    const N = 600
    for (let id = 0; id < N; id++) first.emit('d:evt', { id, key: `k${id % 7}` })
    await first.flush()
    const parkedAtSome = plugin(first).queue.depth
    assert.ok(parkedAtSome > 50, `the window (50) holds part of the queue, the journal the rest (depth ${parkedAtSome})`)
    await first.stop()
    const atStop = plugin(first)
    assertBooks(atStop)
    // Nothing was dead-lettered or lost at the stop: what was queued stays queued, in the journal.
    assert.deepEqual([atStop.events.deadLettered, atStop.events.lost, atStop.queue.dropped], [0, 0, 0])
    const left = atStop.queue.depth
    assert.ok(left > 0, 'the 100 ms drain left events queued')
    assert.equal(await journalLeft(dir), left, 'the journal holds exactly what was queued at the stop')

    const second = await dir.start()
    await until('the backlog delivered', () => plugin(second).events.processed === left, 30_000)
    const p = plugin(second)
    assertBooks(p)
    assert.deepEqual([p.events.received, p.events.recovered, p.events.redelivered], [left, left, left])
    const prom = parseProm(await createMetrics(second, { defaultMetrics: false }).render())
    assert.equal(prom.samples.find((x) => x.name === 'outrigger_events_recovered_total' && x.labels.plugin === 'keeper')?.value, left)
    await second.stop()
    assert.equal(await journalLeft(dir), 0)

    const lines = await processed(dir)
    assert.equal(new Set(lines.map((e) => e.id)).size, N, 'every id processed')
    // Per key, ids were processed in emit order, across the stop and the recovery.
    const last = new Map<string, number>()
    for (const { key, id } of lines) {
      assert.ok((last.get(key) ?? -1) < id, `key ${key}: ${id} after ${last.get(key)}`)
      last.set(key, id)
    }
  })

  it('drops nothing when the window is full: the journal holds the rest, in order', async () => {
    await dir.add('keeper', worker('keeper', { delivery: 'durable', queue: { max: 8, overflow: 'drop-oldest' } }), keeper())
    const sup = await dir.start()
    const N = 5000
    for (let id = 0; id < N; id++) {
      sup.emit('d:evt', { id })
      if (id % 500 === 0) assertBooks(plugin(sup))
    }
    assert.ok(plugin(sup).queue.depth > 8)
    await until('all processed', () => {
      const p = plugin(sup)
      assertBooks(p)
      return p.events.processed === N
    }, 30_000)
    const p = plugin(sup)
    assert.deepEqual([p.queue.dropped, p.queue.depth, p.events.received], [0, 0, N])
    const ids = (await processed(dir)).map((e) => e.id)
    assert.deepEqual(ids, Array.from({ length: N }, (_, i) => i), 'in emit order, each once')
  })

  it('refuses a payload that cannot be cloned alone, counted rejected once, and emitDurable rejects', async () => {
    await dir.add('keeper', worker('keeper', { delivery: 'durable' }), keeper())
    const sup = await dir.start()
    await assert.rejects(sup.emitDurable('d:evt', { id: 1, fn: () => 1 }), (err: { code?: string }) => err.code === 'RIG_ERR_NOT_CLONEABLE')
    await sup.emitDurable('d:evt', { id: 2 })
    await until('settled', () => plugin(sup).events.processed === 1 && plugin(sup).queue.rejected === 1)
    const p = plugin(sup)
    assertBooks(p)
    assert.equal(p.events.received, 2)
  })

  it('rejects a bad payload that waited on disk only (the window was full) once, at its commit', async () => {
    await dir.add('keeper', worker('keeper', { delivery: 'durable', queue: { max: 1 } }), keeper())
    const sup = await dir.start()
    for (let id = 0; id < 200; id++) sup.emit('d:evt', id % 50 === 49 ? { id, fn: () => 1 } : { id })
    await until('settled', () => {
      const p = plugin(sup)
      assertBooks(p)
      return p.events.processed + p.queue.rejected === 200
    })
    const p = plugin(sup)
    assert.deepEqual([p.events.processed, p.queue.rejected, p.events.received], [196, 4, 200])
  })

  it('emitDurable resolves at once for an event no durable plugin hears', async () => {
    await dir.add('keeper', worker('keeper', { delivery: 'at-least-once' }), keeper())
    const sup = await dir.start()
    await sup.emitDurable('d:evt', { id: 1, fn: () => 1 })
    await sup.emitDurable('other:evt', { id: 1 })
    await sup.flush()
  })
})
