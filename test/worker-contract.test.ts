import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { MemoryStore } from '../src/state/memory-store.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { PluginDir, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

const plugin = (sup: Supervisor, name: string) => sup.status().plugins.find((p) => p.name === name)!

// The contract a worker plugin shares with a core plugin: whenReady, options, what it may define.
for (const isolation of (process.env.ISOLATION ? [process.env.ISOLATION] : ['thread', 'process']) as Array<'thread' | 'process'>) {
  describe(`worker plugin contract (${isolation})`, () => {
    let dir: PluginDir
    beforeEach(async () => {
      dir = await PluginDir.create()
    })
    afterEach(() => dir.remove())

    it('runs whenReady in every instance, after every instance ran init', async () => {
      await dir.add('ready', worker('ready', { isolation, instances: 2 }), `
        export default {
          async init(ctx) { await ctx.state.incrCounter('inits') },
          async whenReady(ctx) {
            const inits = await ctx.state.getCounter('inits')
            await ctx.state.incrCounter('readies')
            await ctx.state.incrCounter('inits-seen-by-ready', inits)
          },
        }`)
      const store = new MemoryStore()
      const sup = await dir.start({ store })
      assert.equal(plugin(sup, 'ready').state, 'running')
      assert.equal(await store.getCounter('plugin:ready', 'readies'), 2)
      assert.equal(await store.getCounter('plugin:ready', 'inits-seen-by-ready'), 4, 'each whenReady saw both inits')
    })

    it('runs whenReady again in an instance started later, after its own init', async () => {
      await dir.add('again', worker('again', { isolation }), `
        export default { async whenReady(ctx) { await ctx.state.incrCounter('readies') } }`)
      const store = new MemoryStore()
      const sup = await dir.start({ store })
      assert.equal(await store.getCounter('plugin:again', 'readies'), 1)
      await sup.restartPlugin('again')
      await until('the new instance ran whenReady', async () => (await store.getCounter('plugin:again', 'readies')) === 2)
      assert.equal(plugin(sup, 'again').state, 'running')
    })

    it('fails the start of a plugin whose whenReady does not finish in time, and starts the others', async () => {
      await dir.add('stuck', worker('stuck', { isolation }), `export default { whenReady() { return new Promise(() => {}) } }`)
      await dir.add('fine', worker('fine', { isolation }), `export default { whenReady() {} }`)
      const sup = await dir.start({ config: { timeouts: { whenReadyMs: 300 } } })
      const stuck = plugin(sup, 'stuck')
      assert.equal(stuck.state, 'failed')
      assert.equal(stuck.lastError?.code, 'RIG_ERR_PLUGIN_INIT_TIMEOUT')
      assert.match(stuck.lastError!.message, /worker "stuck" instance 0: whenReady did not finish within 300 ms/)
      assert.equal(plugin(sup, 'fine').state, 'running')
    })

    it("applies the plugin's options schema in the worker before init: defaults reach it, a bad field fails the start", async () => {
      const code = `import { z } from '${import.meta.resolve('zod')}'
        let atInit
        export default {
          options: z.object({ greeting: z.string().default('hello'), times: z.number().int().default(1) }),
          init(ctx) { atInit = ctx.options },
          functions: { seen: (_a, ctx) => ({ atInit, now: ctx.options }) },
        }`
      await dir.add('greeter', worker('greeter', { isolation }), code)
      await dir.add('picky', worker('picky', { isolation }), code)
      const sup = await dir.start({ config: { plugins: { greeter: { options: { times: 2 } }, picky: { options: { times: 'twice' } } } } })
      assert.deepEqual(await sup.call('greeter.seen'), { atInit: { greeting: 'hello', times: 2 }, now: { greeting: 'hello', times: 2 } })
      const picky = plugin(sup, 'picky')
      assert.equal(picky.state, 'failed')
      assert.equal(picky.lastError?.code, 'RIG_ERR_OPTIONS_INVALID')
      assert.match(picky.lastError!.message, /plugins\.picky\.options: times: .*found "twice"/)
    })

    it('refuses a worker plugin that provides a service slot, and accepts an empty provides', async () => {
      await dir.add('provider', worker('provider', { isolation }), `export default { provides: { logger: (base) => base } }`)
      await dir.add('blank', worker('blank', { isolation }), `export default { provides: {}, hooks: { 'a:b'() {} } }`)
      const sup = await dir.start()
      const p = plugin(sup, 'provider')
      assert.equal(p.state, 'failed')
      assert.equal(p.lastError?.code, 'RIG_ERR_WORKER_DEFINITION')
      assert.match(p.lastError!.message, /plugin "provider": a worker plugin defines provides, which only core plugins may/)
      assert.equal(plugin(sup, 'blank').state, 'running')
    })

    it("takes the hook and function lists from every new instance: the bus follows the newest code", async () => {
      const folder = await dir.add('grows', worker('grows', { isolation }), `export default { hooks: { 'a:one'() {} }, functions: { v: () => 1 } }`)
      const store = new MemoryStore()
      const sup = await dir.start({ store })
      assert.deepEqual(plugin(sup, 'grows').hooks, ['a:one'])
      await writeFile(path.join(folder, 'index.js'), `export default {
        hooks: { async 'a:two'(p, ctx) { await ctx.state.incrCounter('two') } },
        functions: { v: () => 2, w: () => 'new' },
      }`)
      await sup.restartPlugin('grows')
      await until('the new code runs', () => plugin(sup, 'grows').state === 'running' && plugin(sup, 'grows').hooks.includes('a:two'))
      const p = plugin(sup, 'grows')
      assert.deepEqual(p.hooks, ['a:two'])
      assert.deepEqual(p.functions, ['v', 'w'])
      assert.equal(await sup.call('grows.w'), 'new')
      sup.emit('a:one', {})
      sup.emit('a:two', {})
      await until('a:two handled', async () => (await store.getCounter('plugin:grows', 'two')) === 1)
      assert.equal(plugin(sup, 'grows').events.received, 1, 'a:one is no longer subscribed')
    })

    it('calls a factory entry once per instance, with its ctx, and applies the options schema it returns', async () => {
      await dir.add('fact', worker('fact', { isolation, instances: 2 }), `import { z } from '${import.meta.resolve('zod')}'
        let made = 0
        export default (ctx) => {
          made++
          return {
            options: z.object({ n: z.number().default(7) }),
            functions: { info: () => ({ made, name: ctx.name, n: ctx.options.n }) },
          }
        }`)
      await dir.add('factpipe', worker('factpipe', { isolation }), `export default () => ({ pipes: { 'a:b': (p) => p } })`)
      const sup = await dir.start()
      assert.equal(plugin(sup, 'fact').state, 'running')
      for (let i = 0; i < 2; i++) assert.deepEqual(await sup.call('fact.info'), { made: 1, name: 'fact', n: 7 })
      const refused = plugin(sup, 'factpipe')
      assert.equal(refused.state, 'failed')
      assert.equal(refused.lastError?.code, 'RIG_ERR_WORKER_DEFINITION')
    })
  })
}
