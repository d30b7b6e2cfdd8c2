/**
 * Sinks: events matching a sink's pattern reach its `write` in batches, by size or by time; a
 * write that throws retries the whole batch under the plugin's delivery guarantee; sink batches
 * have their own counters in the status report and in /metrics. Every sink here writes a real file.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { createMetrics } from '../src/metrics/metrics.js'
import type { PluginStatus } from '../src/supervisor/status-types.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { PluginDir, core, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

/** A sink on `log:*` that appends one line per batch to `file`: the batch's events, in order. */
const fileSink = (file: string, batch: object, failFirst = false) => `
  import { appendFile } from 'node:fs/promises'
  export default { sinks: { 'log:*': {
    batch: ${JSON.stringify(batch)},
    async write(batch, ctx) {
      const line = batch.map((e) => e.event + '#' + e.payload.i).join(' ')
      ${failFirst ? `if ((await ctx.state.incrCounter('try:' + batch[0].payload.i)) === 1) throw new Error('disk hiccup')` : ''}
      await appendFile(${JSON.stringify(file)}, line + '\\n')
    },
  } } }`

const lines = async (file: string): Promise<string[]> => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean)
const row = (sup: Supervisor, name: string): PluginStatus => sup.status().plugins.find((p) => p.name === name)!

describe('sinks', () => {
  let dir: PluginDir
  let sup: Supervisor | undefined
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  for (const kind of ['core', 'thread', 'process'] as const) {
    it(`gathers matching events into batches by size, then by time (${kind})`, async () => {
      const file = path.join(dir.root, 'out.ndjson')
      const manifest = kind === 'core' ? core('out') : worker('out', { isolation: kind })
      await dir.add('out', manifest, fileSink(file, { max: 10, maxWaitMs: 300 }))
      sup = await dir.start()
      for (let i = 0; i < 25; i++) sup.emit(i % 2 ? 'log:odd' : 'log:even', { i })
      sup.emit('other:x', { i: -1 })
      const got = await until('three batches written', async () => {
        const l = await lines(file)
        return l.length === 3 && l
      })
      // Two full batches at once; the last five only when their wait is over.
      assert.deepEqual(got.map((l) => l.split(' ').length), [10, 10, 5])
      assert.deepEqual(got.join(' ').split(' ').map((e) => Number(e.split('#')[1])), Array.from({ length: 25 }, (_, i) => i))
      assert.equal(got[0].split(' ')[1], 'log:odd#1')
      const s = await until('the counters settle', () => row(sup!, 'out').sinks?.['log:*']?.written === 3 && row(sup!, 'out').sinks!['log:*'])
      assert.deepEqual(s, { batches: 3, events: 25, written: 3, failed: 0, deadLettered: 0, dropped: 0, retries: 0, pending: 0 })
      const text = await createMetrics(sup, { defaultMetrics: false }).render()
      assert.match(text, /outrigger_sink_written_total\{plugin="out",sink="log:\*"\} 3/)
      assert.match(text, /outrigger_sink_events_total\{plugin="out",sink="log:\*"\} 25/)
    })
  }

  for (const [isolation, delivery] of [['thread', 'at-least-once'], ['process', 'at-least-once'], ['thread', 'durable']] as const) {
    it(`a write that throws retries the whole batch under ${delivery}, and nothing is lost (${isolation})`, async () => {
      const file = path.join(dir.root, 'out.ndjson')
      await dir.add('out', worker('out', { isolation, delivery, maxAttempts: 3, retry: { backoffMs: { initial: 10, max: 20 } } }), fileSink(file, { max: 8, maxWaitMs: 20 }, true))
      sup = await dir.start()
      for (let i = 0; i < 40; i++) sup.emit('log:x', { i })
      const s = await until('five batches written', () => row(sup!, 'out').sinks?.['log:*']?.written === 5 && row(sup!, 'out').sinks!['log:*'], 20_000)
      assert.equal(s.retries, 5, 'each batch failed once and was written again, whole')
      assert.equal(s.deadLettered, 0)
      const written = (await lines(file)).join(' ').split(' ').map((e) => Number(e.split('#')[1]))
      assert.deepEqual([...written].sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i), 'every event written exactly once')
      const p = row(sup, 'out')
      assert.equal(p.events.redelivered, 5)
      assert.equal(p.events.processed, 5)
    })
  }

  it('a batch that keeps failing becomes one dead letter holding the whole batch', async () => {
    await dir.add('out', worker('out', { delivery: 'at-least-once', maxAttempts: 2, retry: { backoffMs: { initial: 5, max: 10 } } }), `
      export default { sinks: { 'log:*': { batch: { max: 3, maxWaitMs: 10 }, write() { throw new Error('store is read-only') } } } }`)
    sup = await dir.start()
    for (let i = 0; i < 3; i++) sup.emit('log:x', { i })
    const s = await until('dead-lettered', () => row(sup!, 'out').sinks?.['log:*']?.deadLettered === 1 && row(sup!, 'out').sinks!['log:*'])
    assert.equal(s.retries, 1)
    const letters = await until('the letter is stored', async () => {
      const l = await sup!.listDeadLetters('out')
      return l.length === 1 && l
    })
    assert.equal(letters[0].subscription, 'sinks["log:*"]')
    assert.deepEqual(letters[0].payload, [0, 1, 2].map((i) => ({ event: 'log:x', payload: { i } })))
    assert.equal(letters[0].error?.message, 'store is read-only')
  })

  it('a core sink whose write throws counts the batch failed and tells hook:onError', async () => {
    await dir.add('watch', core('watch'), `
      const errors = []
      export default { hooks: { 'hook:onError'(e) { errors.push(e) } }, functions: { errors: () => errors } }`)
    await dir.add('out', core('out'), `export default { sinks: { 'log:*': { batch: { max: 2 }, write() { throw new Error('no space') } } } }`)
    sup = await dir.start()
    sup.emit('log:a', {})
    sup.emit('log:b', {})
    const errors = await until('hook:onError heard', async () => {
      const e = await sup!.call<Array<{ plugin: string; event: string; error: { message: string } }>>('watch.errors')
      return e.length > 0 && e
    })
    assert.deepEqual([errors[0].plugin, errors[0].event, errors[0].error.message], ['out', 'sinks["log:*"]', 'no space'])
    assert.equal(row(sup, 'out').sinks!['log:*'].failed, 1)
  })

  it('what a sink gathered is written when the supervisor stops', async () => {
    const file = path.join(dir.root, 'out.ndjson')
    await dir.add('out', worker('out'), fileSink(file, { max: 1000, maxWaitMs: 60_000 }))
    sup = await dir.start()
    for (let i = 0; i < 7; i++) sup.emit('log:x', { i })
    await until('gathered', () => row(sup!, 'out').sinks?.['log:*']?.pending === 7)
    await sup.stop()
    assert.deepEqual(await lines(file), [[0, 1, 2, 3, 4, 5, 6].map((i) => `log:x#${i}`).join(' ')])
  })
})
