import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { ManifestSchema } from '../src/manifest/schema.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { assertBooks } from './helpers/books.js'
import { PluginDir, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

const isolations = (process.env.ISOLATION ? [process.env.ISOLATION] : ['thread', 'process']) as Array<'thread' | 'process'>
const plugin = (sup: Supervisor) => sup.status().plugins.find((p) => p.name === 'flaky')!

/** Records when each attempt at an event started, and fails every attempt at `p.fail` events. */
const flaky = `
const at = new Map()
export default {
  hooks: { 'f:evt'(p) {
    at.set(p.id, [...(at.get(p.id) ?? []), Date.now()])
    if (p.fail) throw new Error('not yet')
  } },
  functions: { attempts: (id) => at.get(id) ?? [] },
}`

describe('worker.retry.backoffMs in the manifest', () => {
  const parse = (worker: object) => ManifestSchema.parse({ name: 'x', version: '1.0.0', type: 'worker', worker })
  it('defaults to a short backoff', () => {
    assert.deepEqual(parse({}).worker!.retry, { backoffMs: { initial: 10, max: 1000 } })
    assert.deepEqual(parse({ retry: { backoffMs: { max: 50 } } }).worker!.retry, { backoffMs: { initial: 10, max: 50 } })
  })
  it('refuses what cannot be a timer, and an initial above the max', () => {
    assert.throws(() => parse({ retry: { backoffMs: { max: 2 ** 31 } } }), /2\^31-1/)
    assert.throws(() => parse({ retry: { backoffMs: { initial: 500, max: 100 } } }), /initial must not exceed max/)
    assert.throws(() => parse({ retry: { backoffMs: { initial: -1 } } }))
    assert.throws(() => parse({ retry: { tries: 3 } }))
  })
})

for (const isolation of isolations) {
  describe(`retry backoff (${isolation})`, () => {
    let dir: PluginDir
    let sup: Supervisor | undefined
    beforeEach(async () => {
      dir = await PluginDir.create()
    })
    afterEach(() => dir.remove())

    it('spaces the redeliveries of a failing event by at least the doubling backoff, and others flow meanwhile', async () => {
      await dir.add('flaky', worker('flaky', { isolation, delivery: 'at-least-once', maxAttempts: 4, retry: { backoffMs: { initial: 80, max: 200 } } }), flaky)
      sup = await dir.start()
      sup.emit('f:evt', { id: 1, fail: true })
      for (let id = 2; id <= 50; id++) sup.emit('f:evt', { id })
      await until('the failing event dead-lettered', () => plugin(sup!).events.deadLettered === 1)
      const p = plugin(sup)
      assert.equal(p.events.processed, 49)
      assert.equal(p.events.redelivered, 3)
      assertBooks(p)
      const at = await sup.call<number[]>('flaky.attempts', 1)
      assert.equal(at.length, 4)
      const gaps = at.slice(1).map((t, i) => t - at[i])
      // A lower bound only: each wait is at least its backoff (80, 160, then capped at 200).
      // Date.now() has a 1 ms grain, hence the 1 ms of slack.
      for (const [i, min] of [80, 160, 200].entries()) assert.ok(gaps[i] >= min - 1, `attempt ${i + 2} came ${gaps[i]} ms after the previous one, before its ${min} ms backoff`)
      // The other events did not wait for the failing one.
      const other = await sup.call<number[]>('flaky.attempts', 50)
      assert.ok(other[0] < at[1], 'events behind the failing one were processed during its backoff')
    })
  })
}
