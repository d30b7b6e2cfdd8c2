/**
 * Sources: a definition's `source.start(ctx)` runs in every instance once the plugin is ready,
 * emits until `ctx.signal` aborts, sees `ctx.instance`, and is told to wait (`ctx.emit` false,
 * `await ctx.drained()`) while a worker plugin it feeds is above its high-water mark.
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { hostFor } from '../src/hosts/select.js'
import type { HostBridge } from '../src/hosts/worker-host.js'
import { MemoryStore } from '../src/state/memory-store.js'
import { pluginState } from '../src/state/plugin-state.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { PluginDir, core, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

const LIMITS = { memoryMb: 256, startTimeoutMs: 20_000, stopTimeoutMs: 5000, unresponsiveMs: 3000, handlerTimeoutMs: 30_000 }

/** A core plugin that keeps every event of `scope:*` it hears, in order. */
const collector = (scope: string) => `
  const heard = []
  export default { hooks: { '${scope}:*'(p, ctx, meta) { heard.push({ event: meta.event, ...p }) } }, functions: { heard: () => heard } }`

describe('sources', () => {
  let dir: PluginDir
  let sup: Supervisor | undefined
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  it('a core source emits until its signal aborts at the stop, then its stop runs', async () => {
    await dir.add('sink', core('sink'), collector('tick'))
    await dir.add('ticker', core('ticker'), `
      export default {
        source: {
          async start(ctx) {
            let i = 0
            while (!ctx.signal.aborted) {
              ctx.emit('tick:n', { i: i++, instance: ctx.instance })
              await new Promise((r) => setTimeout(r, 1))
            }
            await ctx.state.putState('ended', i)
          },
          async stop(ctx) { await ctx.state.putState('stopped', true) },
        },
      }`)
    const store = new MemoryStore()
    sup = await dir.start({ store })
    const heard = await until('ten ticks', async () => {
      const h = await sup!.call<Array<{ i: number; instance: unknown }>>('sink.heard')
      return h.length >= 10 && h
    })
    assert.deepEqual(heard.slice(0, 10).map((e) => e.i), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert.deepEqual(heard[0].instance, { id: 0, count: 1 })
    await sup.stop()
    const state = pluginState(store, 'ticker')
    assert.ok(((await state.getState<number>('ended')) ?? 0) >= 10, 'start returned after the abort')
    assert.equal(await state.getState('stopped'), true)
  })

  for (const isolation of ['thread', 'process'] as const) {
    it(`each instance of a multi-instance worker source runs start with ctx.instance, its events in order (${isolation})`, async () => {
      await dir.add('sink', core('sink'), collector('src'))
      await dir.add('multi', worker('multi', { isolation, instances: 3 }), `
        export default {
          source: {
            async start(ctx) {
              for (let seq = 0; seq < 300; seq++) {
                ctx.emit('src:e', { id: ctx.instance.id, count: ctx.instance.count, seq })
                // Some awaits between emits: batches of one instance still arrive in order.
                if (seq % 37 === 0) await new Promise((r) => setImmediate(r))
              }
              await ctx.state.incrCounter('done')
            },
          },
        }`)
      const store = new MemoryStore()
      sup = await dir.start({ store })
      await until('every instance finished', async () => (await pluginState(store, 'multi').getCounter('done')) === 3, 30_000)
      const heard = await until('900 events', async () => {
        const h = await sup!.call<Array<{ id: number; count: number; seq: number }>>('sink.heard')
        return h.length === 900 && h
      })
      for (const id of [0, 1, 2]) {
        const mine = heard.filter((e) => e.id === id)
        assert.equal(mine.length, 300, `instance ${id}`)
        assert.deepEqual(mine.map((e) => e.seq), Array.from({ length: 300 }, (_, i) => i), `instance ${id} in order`)
        assert.ok(mine.every((e) => e.count === 3))
      }
    })

    it(`ctx.emit in a worker travels in batches, one message each, in order (${isolation})`, async () => {
      const plugin = await dir.add('burst', worker('burst'), `
        export default { functions: { burst({ n }, ctx) { for (let i = 0; i < n; i++) ctx.emit('b:' + (i % 3), { i }) } } }`)
      const batches: unknown[][] = []
      const singles: unknown[] = []
      const bridge: HostBridge = {
        state: pluginState(new MemoryStore(), 'burst'),
        emit: (event, payload) => void singles.push([event, payload]),
        emitBatch: (events) => {
          batches.push(events)
          return Number.MAX_SAFE_INTEGER
        },
        call: async () => undefined,
        log: () => undefined,
      }
      const inst = await hostFor(isolation).start({ plugin: 'burst', version: '1.0.0', instanceId: 0, entry: `${plugin}/index.js`, rootPath: plugin, dataDir: plugin, options: {}, limits: LIMITS, bridge })
      try {
        await inst.call('burst', { n: 2000 })
        await until('2000 events arrived', () => batches.reduce((n, b) => n + b.length / 2, 0) === 2000)
        assert.equal(singles.length, 0, 'no event travelled alone')
        // The first emit of the tick leaves alone, the rest in batches of at most 512.
        assert.ok(batches.length <= 6, `2000 synchronous emits took ${batches.length} messages`)
        const flat = batches.flat()
        const order = []
        for (let i = 1; i < flat.length; i += 2) order.push((flat[i] as { i: number }).i)
        assert.deepEqual(order, Array.from({ length: 2000 }, (_, i) => i))
        assert.equal(flat[0], 'b:0')
      } finally {
        await inst.kill()
      }
    })
  }

  it('a core source that throws fails its plugin with RIG_ERR_SOURCE_FAILED; the host runs on', async () => {
    await dir.add('broken', core('broken'), `export default { source: { async start() { await null; throw new Error('cannot open the feed') } } }`)
    sup = await dir.start()
    const p = await until('the plugin failed', () => sup!.status().plugins.find((p) => p.name === 'broken' && p.state === 'failed'))
    assert.equal(p.lastError?.code, 'RIG_ERR_SOURCE_FAILED')
    assert.match(p.lastError!.message, /source\.start threw: cannot open the feed/)
  })

  it('a worker source that throws ends its instance, which the restart policy brings back', async () => {
    await dir.add('flaky', worker('flaky', { isolation: 'thread', restart: { backoffMs: { initial: 10, max: 50 } } }), `
      export default { source: { async start(ctx) {
        const n = await ctx.state.incrCounter('starts')
        if (n < 3) throw new Error('feed down (start ' + n + ')')
      } } }`)
    const store = new MemoryStore()
    sup = await dir.start({ store })
    await until('a third start', async () => (await pluginState(store, 'flaky').getCounter('starts')) >= 3, 30_000)
    const p = await until('running again', () => sup!.status().plugins.find((p) => p.name === 'flaky' && p.state === 'running' && p.restarts >= 2), 30_000)
    assert.match(JSON.stringify(p.lastError), /source\.start threw: feed down/)
  })

  it('a bad source or sink definition is refused at load, saying what to fix', async () => {
    await dir.add('bad', core('bad'), `export default { source: { begin() {} }, sinks: { 'x:*': { write: 1, batch: { max: 0 } } } }`)
    sup = await dir.start()
    const p = sup.status().plugins.find((p) => p.name === 'bad')!
    assert.equal(p.state, 'failed')
    assert.equal(p.lastError?.code, 'RIG_ERR_PLUGIN_LOAD')
    assert.match(p.lastError!.message, /source\.start must be a function/)
    assert.match(p.lastError!.message, /sinks\["x:\*"\]\.write must be a function/)
    assert.match(p.lastError!.message, /sinks\["x:\*"\]\.batch\.max must be an integer from 1/)
  })
})
