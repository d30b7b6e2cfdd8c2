import assert from 'node:assert/strict'
import { mkdir, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import type { OutriggerError } from '../src/errors.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { rig, startHost, workspace } from './helpers/cli-run.js'
import { PluginDir, core, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

const plugin = (sup: Supervisor, name: string) => sup.status().plugins.find((p) => p.name === name)!
const isolations = (process.env.ISOLATION ? [process.env.ISOLATION] : ['thread', 'process']) as Array<'thread' | 'process'>

/** A worker plugin that counts what it hears, so a test can see that it works after the restart. */
const GOOD = `export default { hooks: { async 'job:run'(p, ctx) { await ctx.state.incrCounter('done') } }, functions: { hello: () => 'hello' } }\n`

for (const isolation of isolations) {
  describe(`restart after a failed first start (${isolation})`, () => {
    let dir: PluginDir
    let sup: Supervisor | undefined
    beforeEach(async () => {
      dir = await PluginDir.create()
    })
    afterEach(() => dir.remove())

    it('brings a worker plugin whose init threw to running once it is fixed', async () => {
      const folder = await dir.add('initthrow', worker('initthrow', { isolation, instances: 2 }), `export default { init() { throw new Error('database URL missing') } }\n`)
      sup = await dir.start()
      const failed = plugin(sup, 'initthrow')
      assert.equal(failed.state, 'failed')
      assert.deepEqual(failed.instances.map((i) => i.state), ['stopped', 'stopped'], 'no row stays "starting" with pid 0')
      await writeFile(path.join(folder, 'index.js'), GOOD)
      await sup.restartPlugin('initthrow')
      const p = plugin(sup, 'initthrow')
      assert.equal(p.state, 'running')
      assert.equal(p.lastError, null)
      assert.deepEqual(p.instances.map((i) => i.state), ['running', 'running'])
      assert.deepEqual(p.hooks, ['job:run'])
      sup.emit('job:run', {})
      await until('the restarted plugin processes an event', () => plugin(sup!, 'initthrow').events.processed === 1)
      assert.equal(await sup.call('initthrow.hello'), 'hello')
    })

    it('brings back a worker plugin that had a syntax error, and stays failed (with the new cause) while it is still broken', async () => {
      const folder = await dir.add('typo', worker('typo', { isolation }), `export default { hooks: { 'job:run'() { foo(; } } }\n`)
      sup = await dir.start()
      assert.equal(plugin(sup, 'typo').state, 'failed')
      // A first fix that is still wrong: the restart fails, says why, and the plugin stays failed.
      await writeFile(path.join(folder, 'index.js'), `export default { init() { throw new Error('still broken') } }\n`)
      await assert.rejects(sup.restartPlugin('typo'), (e: Error) => /still broken/.test(e.message))
      assert.equal(plugin(sup, 'typo').state, 'failed')
      assert.match(plugin(sup, 'typo').lastError!.message, /still broken/)
      await writeFile(path.join(folder, 'index.js'), GOOD)
      await sup.restartPlugin('typo')
      assert.equal(plugin(sup, 'typo').state, 'running')
      sup.emit('job:run', {})
      await until('the restarted plugin processes an event', () => plugin(sup!, 'typo').events.processed === 1)
    })

    it('reads a worker plugin whose manifest was invalid from disk again', async () => {
      const folder = await dir.add('late', { name: 'late', version: '1.0.0', type: 'worker', worker: { isolation: 'fiber' } }, GOOD)
      sup = await dir.start()
      assert.equal(plugin(sup, 'late').state, 'failed')
      assert.equal(plugin(sup, 'late').lastError?.code, 'RIG_ERR_MANIFEST_INVALID')
      await writeFile(path.join(folder, 'manifest.json'), JSON.stringify(worker('late', { isolation })))
      await sup.restartPlugin('late')
      const p = plugin(sup, 'late')
      assert.equal(p.state, 'running')
      assert.equal(p.isolation, isolation)
      sup.emit('job:run', {})
      await until('the reloaded plugin processes an event', () => plugin(sup!, 'late').events.processed === 1)
    })
  })
}

describe('restart of a core plugin', () => {
  let dir: PluginDir
  let sup: Supervisor | undefined
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  it('says that a core plugin cannot be restarted, and why', async () => {
    await dir.add('shop', core('shop'))
    await dir.add('broken', core('broken'), `export default { init() { throw new Error('no') } }\n`)
    await dir.add('typo', core('typo'), `export default {;\n`)
    sup = await dir.start()
    for (const name of ['shop', 'broken', 'typo']) {
      await assert.rejects(sup.restartPlugin(name), (e: OutriggerError) => {
        assert.equal(e.code, 'RIG_ERR_NOT_RESTARTABLE')
        assert.match(e.message, new RegExp(`plugin "${name}" is a core plugin`))
        assert.match(e.message, /host's event loop/)
        assert.match(e.message, /restart the host/)
        return true
      })
    }
    assert.equal(plugin(sup, 'shop').state, 'running', 'the refusal leaves it alone')
    await assert.rejects(sup.restartPlugin('nothere'), (e: OutriggerError) => e.code === 'RIG_ERR_UNKNOWN_PLUGIN')
  })
})

describe('outrigger restart, through the control socket', () => {
  it('fix the file, then "outrigger restart": the plugin runs; a core plugin is refused with the reason', async () => {
    const ws = await workspace([])
    const available = path.join(ws.root, 'plugins', 'available')
    const plugins = [
      ['typo', worker('typo'), `export default { hooks: { 'job:run'() { foo(; } } }\n`],
      ['shop', core('shop'), 'export default {}\n'],
    ] as const
    for (const [name, manifest, code] of plugins) {
      await mkdir(path.join(available, name))
      await writeFile(path.join(available, name, 'manifest.json'), JSON.stringify(manifest))
      await writeFile(path.join(available, name, 'index.js'), code)
      await symlink(path.join('..', 'available', name), path.join(ws.enabled, name), 'dir')
    }
    const sup = await startHost('rig-restart-fix', ws)
    try {
      assert.equal(plugin(sup, 'typo').state, 'failed')
      await writeFile(path.join(available, 'typo', 'index.js'), GOOD)
      const r = await rig(['--app', 'rig-restart-fix', 'restart', 'typo'], { runtimeDir: ws.runtimeDir })
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /restarted typo/)
      assert.equal(plugin(sup, 'typo').state, 'running')
      assert.deepEqual(plugin(sup, 'typo').instances.map((i) => i.state), ['running'])
      const refused = await rig(['--app', 'rig-restart-fix', 'restart', 'shop'], { runtimeDir: ws.runtimeDir })
      assert.equal(refused.code, 1)
      assert.match(refused.stderr, /RIG_ERR_NOT_RESTARTABLE: plugin "shop" is a core plugin: it runs in the host's event loop/)
    } finally {
      await sup.stop()
      await ws.cleanup()
    }
  })
})
