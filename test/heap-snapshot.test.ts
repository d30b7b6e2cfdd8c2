import assert from 'node:assert/strict'
import { readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import type { InstanceStatus, PluginStatus } from '../src/supervisor/status-types.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { PluginDir, memoryLogger, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

const isolations = (process.env.ISOLATION ? [process.env.ISOLATION] : ['thread', 'process']) as Array<'thread' | 'process'>
const plugin = (sup: Supervisor): PluginStatus => sup.status().plugins.find((p) => p.name === 'leaky')!
const row = (sup: Supervisor): InstanceStatus => plugin(sup).instances[0]

/** Every event keeps 4 MB more of heap (arrays of small integers: 8 bytes an element). */
const LEAKY = `
const kept = []
export default { hooks: { 'mem:grow'() { for (let i = 0; i < 4; i++) kept.push(new Array(128 * 1024).fill(kept.length)) } } }`

/**
 * One event, then wait for a heartbeat that came after it: a child process reads its memory at
 * heartbeats only, so growing faster than they come could jump past 90 % and the limit at once.
 */
async function growOnce(sup: Supervisor): Promise<void> {
  await until('the instance running', () => row(sup).state === 'running', 30_000)
  const before = plugin(sup).events.processed
  sup.emit('mem:grow', {})
  await until('the event processed', () => plugin(sup).events.processed > before || plugin(sup).instances[0].state !== 'running', 20_000)
  const after = Date.now()
  await until('a heartbeat after it', () => {
    const r = row(sup)
    return r.state !== 'running' || (r.lastHeartbeatMs >= 0 && Date.now() - r.lastHeartbeatMs > after)
  }, 20_000)
}

async function snapshots(dir: PluginDir): Promise<string[]> {
  return (await readdir(path.join(dir.stateDir, 'heap-snapshots')).catch(() => [])).sort()
}

for (const isolation of isolations) {
  describe(`heap snapshot near the memory limit (${isolation})`, () => {
    let dir: PluginDir
    beforeEach(async () => {
      dir = await PluginDir.create()
    })
    afterEach(() => dir.remove())

    it('writes one snapshot per instance start past 90 % of limits.memoryMb, before the recycle', async () => {
      // A child's figure is its RSS (about 50 MB of it is Node itself); a thread's is its own heap.
      const memoryMb = isolation === 'process' ? 160 : 64
      await dir.add('leaky', worker('leaky', { isolation, limits: { memoryMb, heapSnapshot: true, unresponsiveMs: 900 } }), LEAKY)
      const { logger, lines } = memoryLogger()
      const sup = await dir.start({ logger })

      // First start: grow until the snapshot is named, then on until the recycle.
      for (let i = 0; !row(sup).heapSnapshot; i++) {
        assert.ok(i < 100, `no snapshot after ${i} events: ${JSON.stringify(row(sup))}`)
        assert.equal(plugin(sup).restarts, 0, 'recycled before any snapshot was written')
        await growOnce(sup)
      }
      const first = row(sup).heapSnapshot!
      assert.equal(path.dirname(first), path.join(dir.stateDir, 'heap-snapshots'))
      assert.match(path.basename(first), /^leaky-0-\d{4}-\d\d-\d\dT[\d-]+Z\.heapsnapshot$/)
      assert.ok((await stat(first)).size > 1_000_000, 'a real heap snapshot')
      const logged = lines.find((l) => (l.obj as { heapSnapshot?: string })?.heapSnapshot === first)
      assert.ok(logged, 'a log line names the snapshot')
      while (plugin(sup).restarts === 0) await growOnce(sup)
      await until('the recycled instance back', () => row(sup).state === 'running' && plugin(sup).state === 'running', 30_000)
      assert.deepEqual(await snapshots(dir), [path.basename(first)], 'one snapshot for the first start, however far past 90 % it went')

      // The next start may write its own, once.
      while (row(sup).heapSnapshot === first) await growOnce(sup)
      const second = row(sup).heapSnapshot!
      assert.notEqual(second, first)
      assert.deepEqual(await snapshots(dir), [path.basename(first), path.basename(second)].sort())
    })
  })
}

describe('heap snapshot off (the default)', () => {
  let dir: PluginDir
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  it('recycles past the limit without writing one', async () => {
    await dir.add('leaky', worker('leaky', { limits: { memoryMb: 64, unresponsiveMs: 900 } }), LEAKY)
    const sup = await dir.start()
    while (plugin(sup).restarts === 0) await growOnce(sup)
    assert.equal(row(sup).heapSnapshot, null)
    assert.deepEqual(await snapshots(dir), [])
  })
})
