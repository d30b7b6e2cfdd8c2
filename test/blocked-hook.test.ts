import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { BATCH_MAX } from '../src/delivery/dispatcher.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { assertBooks } from './helpers/books.js'
import { PluginDir, core, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

const isolations = (process.env.ISOLATION ? [process.env.ISOLATION] : ['thread', 'process']) as Array<'thread' | 'process'>
const plugin = (sup: Supervisor) => sup.status().plugins.find((p) => p.name === 'blocks')!
const heard = () => (globalThis as { __heard?: any[] }).__heard!

/** Event 700 never returns and blocks the worker's event loop: only a kill ends it. */
const blocking = `export default { hooks: { 'job:run'(p) { if (p.id === 700) for (;;); } } }`
const settled = (sup: Supervisor) => {
  const e = plugin(sup).events
  return e.processed + e.failed + e.lost + e.deadLettered === 2000 && plugin(sup).state === 'running'
}

for (const isolation of isolations) {
  describe(`a hook that blocks its event loop (${isolation})`, () => {
    let dir: PluginDir
    let sup: Supervisor | undefined
    beforeEach(async () => {
      dir = await PluginDir.create()
    })
    afterEach(() => dir.remove())

    it('at-least-once: is named and failed after at most two kills; no innocent event is charged or lost', async () => {
      await dir.add('blocks', worker('blocks', { isolation, delivery: 'at-least-once', maxAttempts: 2, limits: { unresponsiveMs: 600 } }), blocking)
      await dir.add('watcher', core('watcher'), `export default { hooks: { 'hook:onError'(e) { globalThis.__heard.push(e) } } }`)
      sup = await dir.start()
      for (let id = 0; id < 2000; id++) sup.emit('job:run', { id })
      await until('every event settled', () => settled(sup!), 30_000)
      const p = plugin(sup)
      assert.deepEqual(
        { processed: p.events.processed, failed: p.events.failed, lost: p.events.lost, deadLettered: p.events.deadLettered },
        { processed: 1999, failed: 1, lost: 0, deadLettered: 0 },
      )
      assert.ok(p.restarts >= 1 && p.restarts <= 2, `${p.restarts} restarts`)
      assertBooks(p)
      await until('the failure reported', () => heard().length === 1)
      assert.equal(heard()[0].error.code, 'RIG_ERR_HANDLER_TIMEOUT')
    })

    it('at-most-once: loses at most the batch it was running; the batches behind it are delivered', async () => {
      await dir.add('blocks', worker('blocks', { isolation, delivery: 'at-most-once', limits: { unresponsiveMs: 600 } }), blocking)
      sup = await dir.start()
      for (let id = 0; id < 2000; id++) sup.emit('job:run', { id })
      await until('every event settled', () => settled(sup!), 30_000)
      const p = plugin(sup)
      assert.ok(p.events.lost >= 1 && p.events.lost <= BATCH_MAX, `${p.events.lost} lost`)
      assert.equal(p.events.processed + p.events.failed + p.events.lost, 2000)
      assert.equal(p.restarts, 1)
      assertBooks(p)
    })
  })
}
