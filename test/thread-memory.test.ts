import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import type { Supervisor } from '../src/supervisor/types.js'
import { assertBooks } from './helpers/books.js'
import { PluginDir, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

const MB = 1048576
const plugin = (sup: Supervisor, name: string) => sup.status().plugins.find((p) => p.name === name)!

/**
 * Keeps every payload's worth of memory for ever, outside the V8 heap. The buffers are filled:
 * an allocator may hand out zeroed memory as pages it has not touched yet, which the RSS would
 * not show until written.
 */
const hoarder = (bytesPerEvent: number) => `
const kept = []
export default {
  hooks: { 'hoard:add'() { kept.push(Buffer.alloc(${bytesPerEvent}, 1)) } },
  functions: { kept: () => kept.length },
}`

/** Samples the host's RSS until stopped, keeping the highest figure. */
function rssPeak(): { readonly peak: number; stop(): void } {
  let peak = process.memoryUsage.rss()
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 2)
  return {
    get peak() {
      return Math.max(peak, process.memoryUsage.rss())
    },
    stop: () => clearInterval(timer),
  }
}

describe('thread memory', () => {
  let dir: PluginDir
  let sup: Supervisor | undefined
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  // Stops whatever supervisor the test started (and so its threads), then deletes the folder.
  afterEach(() => dir.remove())

  it('recycles a thread whose Buffers pass limits.memoryMb, and the host stays within twice the limit', async () => {
    const memoryMb = 64
    const bound = 2 * memoryMb * MB
    await dir.add('hoarder', worker('hoarder', { isolation: 'thread', limits: { memoryMb, unresponsiveMs: 600 } }), hoarder(MB))
    sup = await dir.start()
    await until('a first heartbeat', () => plugin(sup!, 'hoarder').instances[0].memoryMb > 0)
    const start = process.memoryUsage.rss()
    const rss = rssPeak()
    try {
      // Bursts of 1,000 events, which an unguarded thread keeps at 1 MB each: the first one alone
      // is far past the bound. Between bursts, wait for the plugin to settle (or the bound to break).
      for (let burst = 0; burst < 3; burst++) {
        for (let i = 0; i < 1000; i++) sup.emit('hoard:add', { i })
        await until('the burst settled', () => {
          const p = plugin(sup!, 'hoarder')
          return rss.peak - start > bound || (p.queue.depth === 0 && p.events.inFlight === 0 && p.state === 'running')
        }, 60_000)
        assert.ok(rss.peak - start < bound, `host RSS rose ${((rss.peak - start) / MB).toFixed(0)} MB above its start, past 2 × limits.memoryMb`)
      }
    } finally {
      rss.stop()
    }
    const p = plugin(sup, 'hoarder')
    assert.ok(p.restarts >= 1, `recycled ${p.restarts} times: ${JSON.stringify(p.events)}`)
    assert.ok(p.instances[0].restarts >= 1)
    assert.equal(p.events.failed, 0)
    assert.equal(p.events.received, 3000)
    assertBooks(p)
    // The buffers go with the thread that kept them: the host's RSS is back within the bound.
    await until('the host RSS within the bound', () => process.memoryUsage.rss() - start < bound)

    // The fresh instance works, and reports its heap and external memory apart.
    const kept = (await sup.call('hoarder.kept')) as number
    for (let i = 0; i < 20; i++) sup.emit('hoard:add', { i })
    await until('20 more kept', async () => (await sup!.call('hoarder.kept')) === kept + 20)
    await until('a heartbeat that shows them', () => plugin(sup!, 'hoarder').instances[0].externalMb >= 20)
    const i = plugin(sup, 'hoarder').instances[0]
    assert.ok(i.heapMb > 0, `heap ${i.heapMb} MB`)
    assert.ok(Math.abs(i.memoryMb - (i.heapMb + i.externalMb)) <= 0.2, `memory ${i.memoryMb} = heap ${i.heapMb} + external ${i.externalMb}`)
    assert.ok(i.memoryMb < memoryMb)
    assert.equal(plugin(sup, 'hoarder').state, 'running')
    assert.equal(sup.status().health, 'healthy')
  })

  it('recycles a slowly growing thread once it passes the limit, after it finished its work, losing nothing', async () => {
    // 8 KB kept per event: what a thread holds in flight (4 batches of 256 events, 8 MB) fits in
    // the headroom above the limit (a quarter of 64 MB), so it finishes every batch it has.
    const n = 16_000
    await dir.add('hoarder', worker('hoarder', { isolation: 'thread', delivery: 'at-least-once', limits: { memoryMb: 64 }, queue: { max: n } }), hoarder(8192))
    sup = await dir.start()
    for (let i = 0; i < n; i++) sup.emit('hoard:add', { i })
    await until('all processed', () => plugin(sup!, 'hoarder').events.processed === n, 60_000)
    const p = plugin(sup, 'hoarder')
    assert.ok(p.restarts >= 1, `recycled ${p.restarts} times`)
    assert.equal(p.events.lost + p.events.deadLettered + p.events.redelivered, 0, `recycling is not a crash: ${JSON.stringify(p.lastError)}`)
    assert.equal(p.lastError, null)
    assertBooks(p)
    await until('running', () => plugin(sup!, 'hoarder').state === 'running')
  })

  it('reports the heap and external memory of a child process apart from its RSS', async () => {
    await dir.add('hoarder', worker('hoarder', { isolation: 'process', limits: { unresponsiveMs: 600 } }), hoarder(MB))
    sup = await dir.start()
    for (let i = 0; i < 20; i++) sup.emit('hoard:add', { i })
    await until('processed', () => plugin(sup!, 'hoarder').events.processed === 20)
    await until('a heartbeat that shows them', () => plugin(sup!, 'hoarder').instances[0].externalMb >= 20)
    const i = plugin(sup, 'hoarder').instances[0]
    assert.ok(i.heapMb > 0, `heap ${i.heapMb} MB`)
    assert.ok(i.memoryMb > i.heapMb + 20, `RSS ${i.memoryMb} MB holds the heap ${i.heapMb} MB and the 20 MB kept`)
    assert.equal(plugin(sup, 'hoarder').restarts, 0)
  })
})
