import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { OutriggerError } from '../src/errors.js'
import { LmdbStore } from '../src/state/lmdb-store.js'
import { MemoryStore } from '../src/state/memory-store.js'
import type { StateStore } from '../src/plugin/state-store.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { PluginDir, core, memoryLogger } from './helpers/plugins.js'

for (const kind of ['memory', 'lmdb'] as const) {
  describe(`state store (${kind})`, () => {
    let dir: PluginDir
    let store: StateStore
    beforeEach(async () => {
      dir = await PluginDir.create()
      store = kind === 'memory' ? new MemoryStore() : new LmdbStore(dir.stateDir)
    })
    afterEach(async () => {
      await store.close()
      await dir.remove()
    })

    it('puts, gets, deletes and lists values by namespace', async () => {
      await store.put('a', 'k1', { n: 1 })
      await store.put('a', 'k2', [1, 2])
      await store.put('b', 'k1', 'other namespace')
      assert.deepEqual(await store.get('a', 'k1'), { n: 1 })
      assert.deepEqual(await store.list('a'), [['k1', { n: 1 }], ['k2', [1, 2]]])
      assert.deepEqual(await store.list('a', 'k2'), [['k2', [1, 2]]])
      await store.delete('a', 'k1')
      assert.equal(await store.get('a', 'k1'), undefined)
      assert.equal(await store.get('b', 'k1'), 'other namespace')
    })

    it('counts atomically: 1,000 concurrent increments add up', async () => {
      assert.equal(await store.getCounter('c', 'hits'), 0)
      const results = await Promise.all(Array.from({ length: 1000 }, () => store.incr('c', 'hits', 1)))
      assert.equal(await store.getCounter('c', 'hits'), 1000)
      assert.equal(new Set(results).size, 1000, 'every increment saw its own value')
    })
  })
}

describe('ctx.state, functions and service slots', () => {
  let dir: PluginDir
  let sup: Supervisor | undefined
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  // Stops whatever supervisor the test started, then deletes the folder.
  afterEach(() => dir.remove())

  it('keeps plugin state on the embedded store across a supervisor restart', async () => {
    await dir.add('counter', core('counter'), `export default { functions: {
      async bump(n, ctx) { await ctx.state.putState('last', { n }); return ctx.state.incrCounter('bumps', n) },
      async read(_, ctx) { return { last: await ctx.state.getState('last'), bumps: await ctx.state.getCounter('bumps') } },
      async forget(_, ctx) { await ctx.state.deleteState('last'); return ctx.state.getState('last') },
    } }`)
    sup = await dir.start({ store: 'lmdb' })
    assert.equal(await sup.call('counter.bump', 2), 2)
    assert.equal(await sup.call('counter.bump', 3), 5)
    await sup.stop()
    sup = await dir.start({ store: 'lmdb' })
    assert.deepEqual(await sup.call('counter.read'), { last: { n: 3 }, bumps: 5 })
    assert.equal(await sup.call('counter.forget'), undefined)
  })

  it('scopes state per plugin', async () => {
    const code = `export default { functions: { set: (v, ctx) => ctx.state.putState('k', v), get: (_, ctx) => ctx.state.getState('k') } }`
    await dir.add('one', core('one'), code)
    await dir.add('two', core('two'), code)
    sup = await dir.start()
    await sup.call('one.set', 'mine')
    assert.equal(await sup.call('two.get'), undefined)
    assert.equal(await sup.call('one.get'), 'mine')
  })

  it('calls plugin functions from the host and through ctx.call, with clear errors for unknown targets', async () => {
    await dir.add('math', core('math'), `export default { functions: { add: ({ a, b }) => a + b } }`)
    await dir.add('user', core('user'), `export default { functions: { twice: async (n, ctx) => (await ctx.call('math.add', { a: n, b: n })) } }`)
    sup = await dir.start()
    assert.equal(await sup.call('math.add', { a: 2, b: 3 }), 5)
    assert.equal(await sup.call('user.twice', 21), 42)
    await assert.rejects(sup.call('math.mul', {}), (e: OutriggerError) => e.code === 'RIG_ERR_UNKNOWN_TARGET' && /has no function "mul" \(it has: add\)/.test(e.message))
    await assert.rejects(sup.call('math.toString', {}), (e: OutriggerError) => e.code === 'RIG_ERR_UNKNOWN_TARGET', 'inherited members are not functions')
    await assert.rejects(sup.call('nobody.add', {}), (e: OutriggerError) => e.code === 'RIG_ERR_UNKNOWN_TARGET' && /no plugin "nobody"/.test(e.message))
  })

  it('gives each plugin a child logger named after it, and lets a core plugin replace the logger slot', async () => {
    await dir.add('chatty', core('chatty'), `export default { init(ctx) { ctx.log.info({ x: 1 }, 'hello from ' + ctx.name) } }`)
    await dir.add('logs', core('logs'), `export default { provides: { logger: (base) => { const tag = (l) => ({ ...l, child: (b) => tag(l.child({ ...b, via: 'logs' })) }); return tag(base) } } }`)
    const { logger, lines } = memoryLogger()
    sup = await dir.start({ logger })
    const hello = lines.find((l) => l.msg === 'hello from chatty')!
    assert.deepEqual(hello.bindings, { plugin: 'chatty', via: 'logs' })
  })

  it('lets a core plugin replace the storage slot', async () => {
    await dir.add('store', core('store'), `
      const data = new Map()
      globalThis.__customStore = data
      export default { provides: { storage: () => ({
        async get(ns, k) { return data.get(ns + '/' + k) }, async put(ns, k, v) { data.set(ns + '/' + k, v) },
        async delete(ns, k) { data.delete(ns + '/' + k) }, async incr(ns, k, n) { const v = (data.get('#' + ns + '/' + k) ?? 0) + n; data.set('#' + ns + '/' + k, v); return v },
        async getCounter(ns, k) { return data.get('#' + ns + '/' + k) ?? 0 }, async list() { return [] }, async close() {},
      }) } }`)
    await dir.add('user', core('user'), `export default { init: (ctx) => ctx.state.putState('hello', 'world') }`)
    sup = await dir.start()
    assert.equal((globalThis as any).__customStore.get('plugin:user/hello'), 'world')
  })

  it('refuses to start when two plugins provide the same slot, naming both', async () => {
    await dir.add('door-a', core('door-a'), `export default { provides: { auth: () => ({ who: 'a' }) } }`)
    await dir.add('door-b', core('door-b'), `export default { provides: { auth: () => ({ who: 'b' }) } }`)
    await assert.rejects(dir.start(), (e: OutriggerError) => e.code === 'RIG_ERR_SLOT_CONFLICT' && /"door-a" and "door-b" both provide the auth slot/.test(e.message))
  })

  it('puts the default back when the plugin providing auth and permission fails its init', async () => {
    await dir.add('door', core('door'), `export default { provides: { auth: () => ({ who: 'door' }), permission: () => false }, init() { throw new Error('no key file') } }`)
    sup = await dir.start()
    assert.equal(sup.status().plugins[0].state, 'failed')
    assert.deepEqual(await sup.services.auth({ headers: {}, remoteAddress: '127.0.0.1' }), { kind: 'loopback' }, 'the default auth slot')
    assert.equal(await sup.services.permission({ kind: 'loopback' }, { plugin: 'a', controller: 'b', action: 'c' }), true, 'the default permission slot')
  })

  it('refuses to start when the plugin providing storage fails its init, as everyone already holds its store', async () => {
    await dir.add('vault', core('vault'), `export default { provides: { storage: () => ({ async get() {}, async put() {}, async delete() {}, async incr() { return 1 }, async getCounter() { return 0 }, async list() { return [] }, async close() {} }) }, init() { throw new Error('vault sealed') } }`)
    await assert.rejects(dir.start(), (e: OutriggerError) => e.code === 'RIG_ERR_PLUGIN_INIT' && /vault \(the storage slot\)/.test(e.message))
  })

  it("uses a store the host passes in, and leaves closing it to the host", async () => {
    const own = new MemoryStore()
    await own.put('plugin:user', 'seed', 41)
    await dir.add('user', core('user'), `export default { async init(ctx) { await ctx.state.putState('seen', (await ctx.state.getState('seed')) + 1) } }`)
    sup = await dir.start({ store: own })
    assert.equal(await own.get('plugin:user', 'seen'), 42)
    await sup.stop()
    await own.put('plugin:user', 'after', true)
    assert.equal(await own.get('plugin:user', 'after'), true, 'still open after stop')
  })

  it('reports a bad host config naming the field', async () => {
    await assert.rejects(dir.start({ config: { timeouts: { initMs: -5 } } as object }), (e: OutriggerError) => e.code === 'RIG_ERR_CONFIG_INVALID' && /timeouts\.initMs: .*found -5/.test(e.message))
    await assert.rejects(dir.start({ config: { plugin: {} } as object }), (e: OutriggerError) => e.code === 'RIG_ERR_CONFIG_INVALID' && /unknown field\(s\) "plugin"/.test(e.message))
  })
})
