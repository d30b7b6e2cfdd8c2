/**
 * Health reports what it sees (issue 12 §6): drops before the first status() call are flagged,
 * a symlink loop is called a loop, and a worker plugin whose manifest failed is still a worker.
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { PluginDir, worker } from './helpers/plugins.js'

let dir: PluginDir
beforeEach(async () => {
  dir = await PluginDir.create()
})
afterEach(async () => {
  await dir.remove()
})

describe('health reports what it sees', () => {
  for (const isolation of ['thread', 'process'] as const) {
    it(`flags drops that happened before the first status() call (${isolation})`, async () => {
      await dir.add('sink', worker('sink', { isolation, queue: { max: 10, overflow: 'drop-newest' } }), `export default { hooks: { 'tick:go'() {} } }\n`)
      const sup = await dir.start()
      // Every emit of this synchronous burst lands before any batch leaves: all but 10 are dropped.
      for (let i = 0; i < 5000; i++) sup.emit('tick:go', { i })
      const report = sup.status()
      const sink = report.plugins.find((p) => p.name === 'sink')!
      assert.ok(sink.queue.dropped > 0, `dropped ${sink.queue.dropped}`)
      assert.equal(report.health, 'degraded', `${sink.queue.dropped} drops before the first status() call`)
    })
  }
})
