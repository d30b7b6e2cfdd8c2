import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import type { Supervisor } from '../src/supervisor/types.js'
import { assertBooks } from './helpers/books.js'
import { PluginDir, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

const isolations = (process.env.ISOLATION ? [process.env.ISOLATION] : ['thread', 'process']) as Array<'thread' | 'process'>
const plugin = (sup: Supervisor) => sup.status().plugins.find((p) => p.name === 'ordered')!
const N = 10_000
const KEYS = 50

/**
 * Every successful run appends "key n" to a file of the instance's own. Failures are injected
 * by id: some events fail once, some twice, one always (it ends as a dead letter). Hooks are
 * partly async, so batches are out while others run.
 */
const ordered = `
import { openSync, writeSync } from 'node:fs'
import { threadId } from 'node:worker_threads'
let fd
const tries = new Map()
export default {
  init(ctx) { fd = openSync(ctx.dataDir + '/ok-' + process.pid + '-' + threadId + '-' + Date.now() + '.log', 'a') },
  hooks: { async 'o:evt'(p) {
    const t = (tries.get(p.id) ?? 0) + 1
    tries.set(p.id, t)
    if (p.id === 4321) throw new Error('always')
    if (p.id % 97 === 5 && t === 1) throw new Error('once')
    if (p.id % 331 === 8 && t <= 2) throw new Error('twice')
    if (p.id % 7 === 0) await Promise.resolve()
    writeSync(fd, p.key + ' ' + p.n + '\\n')
  } },
}`

async function successes(dataDir: string): Promise<Map<string, number[]>> {
  const byKey = new Map<string, number[]>()
  for (const f of await readdir(dataDir)) {
    for (const line of (await readFile(path.join(dataDir, f), 'utf8')).split('\n')) {
      if (!line) continue
      const [key, n] = line.split(' ')
      const list = byKey.get(key) ?? []
      list.push(Number(n))
      byKey.set(key, list)
    }
  }
  return byKey
}

for (const isolation of isolations) {
  describe(`partitionBy order under retries (${isolation})`, () => {
    let dir: PluginDir
    let sup: Supervisor | undefined
    beforeEach(async () => {
      dir = await PluginDir.create()
    })
    afterEach(() => dir.remove())

    it(`keeps each key's order of first success over ${N.toLocaleString('en')} events with injected failures`, async () => {
      await dir.add('ordered', worker('ordered', {
        isolation, instances: 2, delivery: 'at-least-once', maxAttempts: 3, partitionBy: 'key',
        queue: { max: N }, retry: { backoffMs: { initial: 5, max: 20 } },
      }), ordered)
      sup = await dir.start()
      const n = new Map<string, number>()
      for (let id = 0; id < N; id++) {
        const key = `k${(id * 7919) % KEYS}`
        const next = (n.get(key) ?? 0) + 1
        n.set(key, next)
        sup.emit('o:evt', { id, key, n: next })
      }
      await until('every event settled', () => plugin(sup!).events.processed + plugin(sup!).events.deadLettered === N, 60_000)
      const p = plugin(sup)
      assert.equal(p.events.deadLettered, 1)
      assert.ok(p.events.redelivered > 100, `failures were retried (${p.events.redelivered} redeliveries)`)
      assertBooks(p)
      // Order across an instance's death is not promised, and a new life writes a new file that
      // readdir need not list after the old one: a restart would void the check below, so it is named.
      assert.equal(p.restarts, 0, `no instance restarted (${p.lastError?.message ?? ''})`)
      const seen = await successes(path.join(dir.stateDir, 'data', 'ordered'))
      assert.equal(seen.size, KEYS)
      let total = 0
      for (const [key, list] of seen) {
        const first: number[] = []
        const done = new Set<number>()
        for (const x of list) if (!done.has(x)) (done.add(x), first.push(x))
        total += first.length
        const sorted = [...first].sort((a, b) => a - b)
        assert.deepEqual(first, sorted, `key ${key} processed out of order`)
      }
      assert.equal(total, N - 1)
    })
  })
}
