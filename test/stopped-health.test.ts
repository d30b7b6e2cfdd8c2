/**
 * A plugin its restart policy left `stopped` is not healthy: the report says degraded and why,
 * and the events emitted to it are dropped and counted rather than queued for nobody.
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import type { Supervisor } from '../src/supervisor/types.js'
import { assertBooks } from './helpers/books.js'
import { PluginDir, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

const plugin = (sup: Supervisor, name: string) => sup.status().plugins.find((p) => p.name === name)!
const isolations = (process.env.ISOLATION ? [process.env.ISOLATION] : ['thread', 'process']) as Array<'thread' | 'process'>

/** `st:end` ends the instance by itself with the given exit code; `st:x` is counted. */
const ENDS = `
  export default {
    hooks: {
      'st:end'(p) { process.exit(p.code) },
      'st:x'(p, ctx) { return ctx.state.incrCounter('x') },
    },
  }`

for (const isolation of isolations) {
  describe(`a plugin left stopped by its restart policy (${isolation})`, () => {
    let dir: PluginDir
    let sup: Supervisor | undefined
    beforeEach(async () => {
      dir = await PluginDir.create()
    })
    afterEach(() => dir.remove())

    for (const [policy, code] of [['temporary', 3], ['transient', 0]] as const) {
      it(`"${policy}" after exit code ${code}: degraded with the reason, its events dropped and counted`, async () => {
        await dir.add('ends', worker('ends', { isolation, restart: { policy } }), ENDS)
        sup = await dir.start()
        sup.emit('st:x', {})
        await until('the first event processed', () => plugin(sup!, 'ends').events.processed === 1)
        assert.equal(sup.status().health, 'healthy')

        sup.emit('st:end', { code })
        await until('the plugin stopped', () => plugin(sup!, 'ends').state === 'stopped')
        let p = plugin(sup, 'ends')
        assert.equal(p.restarts, 0, 'the policy does not restart it')
        assert.equal(sup.status().health, 'degraded', 'a stopped plugin is not a healthy one')
        assert.equal(p.lastError?.code, 'RIG_ERR_WORKER_STOPPED')
        assert.match(p.lastError!.message, new RegExp(`restart policy "${policy}"`))
        assert.match(p.lastError!.message, /drops its new events until "outrigger restart ends"/)

        // New events are dropped at once and counted, not queued for an instance that never comes.
        for (let i = 0; i < 20; i++) sup.emit('st:x', { i })
        p = plugin(sup, 'ends')
        assert.equal(p.queue.depth, 0)
        assert.equal(p.queue.dropped, 20)
        assertBooks(p)

        // The operator brings it back; it takes events again.
        await sup.restartPlugin('ends')
        assert.equal(plugin(sup, 'ends').state, 'running')
        assert.equal(plugin(sup, 'ends').lastError, null)
        sup.emit('st:x', {})
        await until('an event processed after the restart', () => plugin(sup!, 'ends').events.processed === 2)
        assert.equal(plugin(sup, 'ends').queue.dropped, 20)
        assertBooks(plugin(sup, 'ends'))
      })
    }

    it('"transient" after a crash restarts: only a normal exit leaves it stopped', async () => {
      await dir.add('ends', worker('ends', { isolation, restart: { policy: 'transient', backoffMs: { initial: 0 } } }), ENDS)
      sup = await dir.start()
      sup.emit('st:end', { code: 1 })
      await until('restarted', () => plugin(sup!, 'ends').restarts === 1 && plugin(sup!, 'ends').state === 'running')
      assert.equal(plugin(sup, 'ends').lastError?.code, 'RIG_ERR_WORKER_EXITED')
      sup.emit('st:x', {})
      await until('processed', () => plugin(sup!, 'ends').events.processed === 1)
      assert.equal(plugin(sup, 'ends').queue.dropped, 0)
    })

    it('a stopping supervisor is not degraded by the plugins it stopped itself', async () => {
      await dir.add('ends', worker('ends', { isolation, restart: { policy: 'temporary' } }), ENDS)
      sup = await dir.start()
      await sup.stop()
      assert.equal(plugin(sup, 'ends').state, 'stopped')
      assert.equal(sup.status().health, 'healthy')
    })
  })
}
