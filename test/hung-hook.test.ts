import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import type { Supervisor } from '../src/supervisor/types.js'
import { assertBooks } from './helpers/books.js'
import { PluginDir, core, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

const isolations = (process.env.ISOLATION ? [process.env.ISOLATION] : ['thread', 'process']) as Array<'thread' | 'process'>
const plugin = (sup: Supervisor, name = 'hangs') => sup.status().plugins.find((p) => p.name === name)!
const heard = () => (globalThis as { __heard?: any[] }).__heard!

/** Every event is counted by id in the worker; the ids in `hang` get a promise that never settles. */
const hanging = (hang: number[]) => `
const seen = new Map()
export default {
  hooks: { 'job:run'(p) {
    seen.set(p.id, (seen.get(p.id) ?? 0) + 1)
    if (${JSON.stringify(hang)}.includes(p.id)) return new Promise(() => {})
    return p.id % 3 ? undefined : Promise.resolve()
  } },
  functions: { runs: () => [...seen.values()].reduce((a, b) => a + b, 0), distinct: () => seen.size },
}`

for (const isolation of isolations) {
  for (const delivery of ['at-most-once', 'at-least-once'] as const) {
    describe(`a hung hook (${isolation}, ${delivery})`, () => {
      let dir: PluginDir
      let sup: Supervisor | undefined
      beforeEach(async () => {
        dir = await PluginDir.create()
      })
      afterEach(() => dir.remove())

      it('costs one event: 1 failed with RIG_ERR_HANDLER_TIMEOUT, 0 lost, 1,999 processed, no restart', async () => {
        await dir.add('hangs', worker('hangs', { isolation, delivery, limits: { handlerTimeoutMs: 1000 } }), hanging([700]))
        await dir.add('watcher', core('watcher'), `export default { hooks: { 'hook:onError'(e) { globalThis.__heard.push(e) } } }`)
        sup = await dir.start()
        for (let id = 0; id < 2000; id++) sup.emit('job:run', { id })
        await until('every event settled', () => plugin(sup!).events.processed + plugin(sup!).events.failed === 2000, 20_000)
        const p = plugin(sup)
        assert.deepEqual(
          { processed: p.events.processed, failed: p.events.failed, lost: p.events.lost, deadLettered: p.events.deadLettered, redelivered: p.events.redelivered, restarts: p.restarts },
          { processed: 1999, failed: 1, lost: 0, deadLettered: 0, redelivered: 0, restarts: 0 },
        )
        assertBooks(p)
        // Each event ran exactly once: nothing was resent behind the hung one.
        assert.equal(await sup.call('hangs.runs'), 2000)
        assert.equal(await sup.call('hangs.distinct'), 2000)
        await until('the failure reported', () => heard().length === 1)
        assert.equal(heard()[0].error.code, 'RIG_ERR_HANDLER_TIMEOUT')
        assert.equal(heard()[0].event, 'job:run')
        assert.equal(p.state, 'running')
      })

      it('two hangs do not quarantine the plugin, and the instance keeps serving', async () => {
        await dir.add('hangs', worker('hangs', { isolation, delivery, instances: 2, limits: { handlerTimeoutMs: 300 }, restart: { maxRestarts: 1 } }), hanging([100, 2000]))
        sup = await dir.start()
        for (let id = 0; id < 3000; id++) sup.emit('job:run', { id })
        await until('every event settled', () => plugin(sup!).events.processed + plugin(sup!).events.failed === 3000, 20_000)
        const p = plugin(sup)
        assert.equal(p.events.failed, 2)
        assert.equal(p.events.processed, 2998)
        assert.equal(p.events.deadLettered, 0)
        assert.equal(p.restarts, 0)
        assert.equal(p.state, 'running')
        assertBooks(p)
        sup.emit('job:run', { id: 5000 })
        await until('a later event processed', () => plugin(sup!).events.processed === 2999)
      })
    })
  }
}
