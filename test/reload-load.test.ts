import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import type { Supervisor } from '../src/supervisor/types.js'
import { assertBooks } from './helpers/books.js'
import { PluginDir, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

const N = 50_000
const RELOADS = 3
const settings = { isolation: 'process', instances: 2, delivery: 'at-least-once', queue: { max: N + 1000 } }

/** Each version writes `<id> <version>` for every event it runs, to a file of its own instance. */
const code = (version: number) => `
import { openSync, writeSync } from 'node:fs'
let fd
export default {
  init(ctx) { fd = openSync(ctx.dataDir + '/ids-v${version}-' + process.pid + '.log', 'a') },
  hooks: { 'load:evt'(p) {
    for (const t = process.hrtime.bigint(); process.hrtime.bigint() - t < 20_000n;);
    writeSync(fd, p.id + ' ${version}\\n')
  } },
}`

describe('reload under load', () => {
  let dir: PluginDir
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  it(`streams ${N.toLocaleString('en')} at-least-once events to a 2-instance process plugin reloaded ${RELOADS} times: none lost, duplicates counted, the books add up`, async () => {
    await dir.add('loaded', worker('loaded', settings), code(1))
    const sup: Supervisor = await dir.start()
    const row = () => sup.status().plugins.find((p) => p.name === 'loaded')!
    let emitted = 0
    const emitting = (async () => {
      while (emitted < N) {
        for (const end = Math.min(N, emitted + 500); emitted < end; emitted++) sup.emit('load:evt', { id: emitted })
        assertBooks(row())
        await new Promise((r) => setTimeout(r, 2))
      }
    })()
    const versions: string[] = []
    for (let v = 2; v <= RELOADS + 1; v++) {
      // Each reload begins while events are queued and in flight.
      await until(`events in flight before reload ${v - 1}`, () => row().events.inFlight > 0 || emitted === N, 60_000)
      await dir.add('loaded', worker('loaded', settings, { version: `${v}.0.0` }), code(v), { enable: false })
      const r = await sup.reload('loaded')
      versions.push(r.to)
      assert.equal(r.instances, 2)
      assertBooks(row())
    }
    await emitting
    await until('every event settled', () => {
      const p = row()
      assertBooks(p)
      return p.events.received === N && p.queue.depth === 0 && p.events.inFlight === 0
    }, 240_000)

    const data = path.join(dir.stateDir, 'data', 'loaded')
    const runs = new Map<number, number>()
    const byVersion = new Map<string, number>()
    for (const f of await readdir(data)) {
      for (const line of (await readFile(path.join(data, f), 'utf8')).split('\n')) {
        if (!line) continue
        const [id, v] = line.split(' ')
        runs.set(Number(id), (runs.get(Number(id)) ?? 0) + 1)
        byVersion.set(v, (byVersion.get(v) ?? 0) + 1)
      }
    }
    const p = row()
    const duplicates = [...runs.values()].reduce((s, n) => s + n - 1, 0)
    console.log(`reload under load: ${N} events, ${RELOADS} reloads, processed ${p.events.processed}, redelivered ${p.events.redelivered}, duplicates ${duplicates}, by version ${JSON.stringify(Object.fromEntries(byVersion))}`)
    assertBooks(p)
    assert.deepEqual(versions, ['2.0.0', '3.0.0', '4.0.0'])
    assert.equal(p.version, '4.0.0')
    assert.equal(p.events.lost, 0)
    assert.equal(p.events.deadLettered, 0)
    assert.equal(p.events.failed, 0)
    assert.equal(p.events.processed, N)
    assert.equal(runs.size, N, 'every id ran at least once')
    // A duplicate is a run the supervisor could not see answered: each one is a redelivery.
    assert.ok(duplicates <= p.events.redelivered, `duplicates ${duplicates} <= redelivered ${p.events.redelivered}`)
    assert.ok((byVersion.get('4') ?? 0) > 0, 'the last code ran events')
  })
})
