/**
 * Backpressure: a fast source feeding a slow worker plugin is told to wait (`ctx.emit` false)
 * above the plugin's high-water mark and resumes once `ctx.drained()` resolves, so nothing is
 * dropped and the host's memory stays flat however much goes through. A source that ignores it
 * is still bounded by the queue's overflow policy.
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import v8 from 'node:v8'
import vm from 'node:vm'
import { MemoryStore } from '../src/state/memory-store.js'
import { pluginState } from '../src/state/plugin-state.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { PluginDir, core, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

const EVENTS = 4000
const PAYLOAD_KB = 32
const MAX = 100

// A full collection before each reading, so the readings are what the host holds, not garbage.
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void
const heldMb = (): number => {
  gc()
  return process.memoryUsage().heapUsed / 1048576
}

/** A worker plugin that spends about 0.3 ms of CPU per event: far slower than the source. */
const slow = (isolation: string) =>
  // At-least-once and a generous heartbeat limit: on a loaded machine an instance may still be
  // recycled, and what it held then comes back rather than being lost; the hook counts each event once.
  [worker('slow', { isolation, delivery: 'at-least-once', queue: { max: MAX, overflow: 'drop-newest' }, limits: { unresponsiveMs: 15_000 } }), `
  const seen = new Set()
  export default { hooks: { 'feed:*'(p) { const end = performance.now() + 0.3; while (performance.now() < end); seen.add(p.i) } }, functions: { n: () => seen.size } }`] as const

/** A source emitting EVENTS payloads of PAYLOAD_KB, waiting when told to (or not). */
const source = (respect: boolean) => `
  export default { source: { async start(ctx) {
    let waits = 0
    for (let i = 0; i < ${EVENTS} && !ctx.signal.aborted; i++) {
      // A string of its own per event, so a queue that held them all would hold all their bytes.
      const ok = ctx.emit('feed:item', { i, blob: String(i).padEnd(${PAYLOAD_KB * 1024}, 'x') })
      if (!ok) waits++
      if (!ok && ${respect}) await ctx.drained()
      else if (i % 64 === 0) await new Promise((r) => setImmediate(r))
    }
    await ctx.state.putState('done', { waits })
  } } }`

describe('backpressure', () => {
  let dir: PluginDir
  let sup: Supervisor | undefined
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  for (const [kind, isolation] of [['core', 'thread'], ['worker', 'thread'], ['worker', 'process']] as const) {
    it(`a ${kind} source that waits when told loses nothing, and keeps the queue and the host's memory bounded (slow plugin: ${isolation})`, async () => {
      await dir.add('slow', ...slow(isolation))
      await dir.add('fast', kind === 'core' ? core('fast') : worker('fast', { isolation: 'thread' }), source(true))
      const store = new MemoryStore()
      const before = heldMb()
      sup = await dir.start({ store })
      let maxDepth = 0
      let maxHeld = 0
      let readings = 0
      // Readings of what the host holds while events flow (a measurement, not a synchronisation).
      const depth = setInterval(() => (maxDepth = Math.max(maxDepth, sup!.status().plugins.find((p) => p.name === 'slow')!.queue.depth)), 2)
      const memory = setInterval(() => {
        maxHeld = Math.max(maxHeld, heldMb())
        readings++
      }, 100)
      try {
        const done = await until('the source finished', () => pluginState(store, 'fast').getState<{ waits: number }>('done'), 120_000)
        await until('every event handled', async () => (await sup!.call<number>('slow.n')) === EVENTS, 120_000)
        const p = sup.status().plugins.find((p) => p.name === 'slow')!
        assert.equal(p.queue.dropped, 0, 'nothing dropped')
        assert.equal(p.events.received, EVENTS)
        assert.ok(done.waits > 0, 'the source was told to wait')
        assert.ok(maxDepth <= MAX, `queue depth peaked at ${maxDepth} (max ${MAX})`)
        // EVENTS × PAYLOAD_KB is 125 MB through the host; what it holds at once is about a queue's worth (3 MB).
        assert.ok(readings >= 3, `${readings} readings`)
        const growthMb = maxHeld - before
        assert.ok(growthMb < 30, `the host held ${growthMb.toFixed(1)} MB more at its peak while ${(EVENTS * PAYLOAD_KB) / 1024} MB went through`)
      } finally {
        clearInterval(depth)
        clearInterval(memory)
      }
    })
  }

  it('a source that ignores the answer is bounded by the overflow policy, every drop counted', async () => {
    await dir.add('slow', ...slow('thread'))
    await dir.add('fast', core('fast'), source(false))
    const store = new MemoryStore()
    sup = await dir.start({ store })
    const done = await until('the source finished', () => pluginState(store, 'fast').getState<{ waits: number }>('done'), 120_000)
    assert.ok(done.waits > 0, 'ctx.emit answered false')
    const p = await until('the books settle', () => {
      const p = sup!.status().plugins.find((p) => p.name === 'slow')!
      return p.events.inFlight === 0 && p.queue.depth === 0 && p
    }, 120_000)
    assert.ok(p.queue.dropped > 0, 'the queue dropped what did not fit')
    assert.equal(p.events.received, EVENTS)
    assert.equal(p.events.processed + p.queue.dropped + p.events.deadLettered, EVENTS)
  })
})
