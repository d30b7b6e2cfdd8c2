import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { DEFAULT_CAPS } from '../src/delivery/flight-window.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { assertBooks } from './helpers/books.js'
import { PluginDir, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

const N = 200_000
const isolations = (process.env.ISOLATION ? [process.env.ISOLATION] : ['thread', 'process']) as Array<'thread' | 'process'>
const plugin = (sup: Supervisor) => sup.status().plugins.find((p) => p.name === 'victim')!

/**
 * The victim writes every id it processes to a file of its own before its hook returns. Threads
 * kill themselves every few hundred milliseconds (process.exit, or an uncaught throw); children
 * are SIGKILLed from outside by the test, always while a batch is out.
 */
const victim = (selfKill: boolean) => `
import { openSync, writeSync } from 'node:fs'
import { threadId } from 'node:worker_threads'
let fd, dieAt = 0, dies = 0
export default {
  init(ctx) {
    fd = openSync(ctx.dataDir + '/ids-' + process.pid + '-' + threadId + '-' + Date.now() + '.log', 'a')
    dieAt = Date.now() + 150 + Math.random() * 250
  },
  hooks: { 'chaos:evt'(p) {
    if (${selfKill} && Date.now() > dieAt) {
      if ((process.pid + threadId) % 2) process.exit(1)
      setImmediate(() => { throw new Error('chaos') })
      dieAt = Infinity
      throw new Error('dying')
    }
    // Children are killed from outside: a little work per event keeps their batches out long
    // enough for a kill to catch one, on a fast machine too.
    if (!${selfKill}) for (const t = process.hrtime.bigint(); process.hrtime.bigint() - t < 10_000n;);
    writeSync(fd, p.id + '\\n')
  } },
}`

async function arrivedIds(dataDir: string): Promise<Set<number>> {
  const ids = new Set<number>()
  for (const f of await readdir(dataDir)) {
    for (const line of (await readFile(path.join(dataDir, f), 'utf8')).split('\n')) if (line) ids.add(Number(line))
  }
  return ids
}

for (const isolation of isolations) {
  for (const delivery of ['at-least-once', 'at-most-once'] as const) {
    describe(`chaos (${isolation}, ${delivery})`, () => {
      let dir: PluginDir
      let sup: Supervisor | undefined
      beforeEach(async () => {
        dir = await PluginDir.create()
      })
      // Stops whatever supervisor the test started, then deletes the folder.
      afterEach(() => dir.remove())

      it(`delivers ${N.toLocaleString('en')} events while instances die at random, and the books add up`, async () => {
        await dir.add('victim', worker('victim', {
          isolation, instances: 2, delivery, maxAttempts: 1000,
          queue: { max: N + 1000 },
          restart: { maxRestarts: 100_000, backoffMs: { initial: 5, max: 50 } },
        }), victim(isolation === 'thread'))
        sup = await dir.start()
        let kills = 0
        let killer: NodeJS.Timeout | undefined
        // A kill lands only while a batch is out: a child that is killed idle owes nothing, and the
        // redeliveries asserted below would then depend on the machine's speed.
        const scheduleKill = (delayMs = 150 + Math.random() * 250) => {
          killer = setTimeout(() => {
            const p = plugin(sup!)
            const live = p.instances.filter((i) => i.state === 'running' && i.pid)
            const target = live[Math.floor(Math.random() * live.length)]
            if (!target || p.events.inFlight === 0) return scheduleKill(2)
            try {
              process.kill(target.pid, 'SIGKILL')
              kills++
            } catch {}
            scheduleKill()
          }, delayMs)
        }
        if (isolation === 'process') scheduleKill()
        for (let i = 0; i < N; i += 2000) {
          for (let j = i; j < i + 2000; j++) sup.emit('chaos:evt', { id: j })
          assertBooks(plugin(sup))
          // Paced load (about 2.5 s in all), so that it spans many deaths.
          await new Promise((r) => setTimeout(r, 25))
        }
        try {
          await until('everything settled', () => {
            const p = plugin(sup!)
            assertBooks(p)
            return p.queue.depth === 0 && p.events.inFlight === 0 && p.events.received === N
          }, 150_000)
        } finally {
          clearTimeout(killer)
        }
        const p = plugin(sup)
        const arrived = await arrivedIds(path.join(dir.stateDir, 'data', 'victim'))
        assertBooks(p)
        assert.ok(p.restarts >= 3, `instances died ${p.restarts} times (${kills} SIGKILLs)`)
        if (delivery === 'at-least-once') {
          assert.equal(p.events.lost, 0)
          assert.equal(p.events.deadLettered, 0)
          assert.equal(p.events.processed, N)
          assert.equal(arrived.size, N, 'every id processed at least once')
          assert.ok(p.events.redelivered > 0, 'deaths caused redeliveries')
        } else {
          const never = N - arrived.size
          assert.equal(p.events.redelivered, 0)
          assert.ok(p.events.lost > 0)
          // Every id that never arrived is counted lost (or failed: a dying hook throws first).
          // The reverse can be off by the events an instance finished but had not acknowledged
          // when it died: they arrived, and the supervisor, which never heard back, counts them
          // lost. That gap is bounded by what was in flight at each death.
          const gone = p.events.lost + p.events.failed
          assert.ok(gone >= never, `lost ${p.events.lost} + failed ${p.events.failed} >= never arrived ${never}`)
          // (In flight at a death: at most the instance's window, which never passes its cap.)
          assert.ok(gone - never <= p.restarts * DEFAULT_CAPS.maxEvents, `lost ${p.events.lost} + failed ${p.events.failed}, never arrived ${never}`)
          assert.equal(p.events.processed + p.events.failed, N - p.events.lost)
        }
      })
    })
  }
}
