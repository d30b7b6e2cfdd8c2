/**
 * Health reports what it sees (issue 12 §6): drops before the first status() call are flagged,
 * a symlink loop is called a loop, and a worker plugin whose manifest failed is still a worker.
 */
import assert from 'node:assert/strict'
import { symlink } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { PluginDir, core, memoryLogger, worker } from './helpers/plugins.js'

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

  it('reports a symlink loop in the plugins folder as a loop, not as a dead symlink', async () => {
    await dir.add('fine', core('fine'))
    await symlink('self', path.join(dir.enabled, 'self'))
    await symlink('pong', path.join(dir.enabled, 'ping'))
    await symlink('ping', path.join(dir.enabled, 'pong'))
    const { logger, lines } = memoryLogger()
    const sup = await dir.start({ logger })
    const warnings = lines.filter((l) => l.level === 'warn').map((l) => l.msg ?? '')
    for (const name of ['self', 'ping', 'pong']) {
      const w = warnings.find((m) => m.startsWith(`${path.join(dir.enabled, name)}:`))
      assert.ok(w, `a warning about ${name}: ${JSON.stringify(warnings)}`)
      assert.match(w, /symlink loop/)
      assert.doesNotMatch(w, /dead symlink/)
    }
    assert.deepEqual(sup.status().plugins.map((p) => [p.name, p.state]), [['fine', 'running']])
  })

  it('lists a worker plugin whose manifest failed as the worker its manifest says it is', async () => {
    // A schema failure (an unknown field), an engine mismatch, and a manifest whose type is unreadable.
    await dir.add('badworker', worker('badworker', { isolation: 'process', bogus: true }))
    await dir.add('oldworker', worker('oldworker', { isolation: 'thread' }, { engine: '>=99.0.0' }))
    await dir.add('typeless', { name: 'typeless', version: '1.0.0', type: 'sometimes' })
    const sup = await dir.start()
    const kinds = Object.fromEntries(sup.status().plugins.map((p) => [p.name, [p.state, p.type, p.isolation]]))
    assert.deepEqual(kinds, {
      badworker: ['failed', 'worker', 'process'],
      oldworker: ['failed', 'worker', 'thread'],
      typeless: ['failed', 'core', 'inline'],
    })
  })
})
