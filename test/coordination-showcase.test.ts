import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { applyEntry, EMPTY_REPLICA } from '../src/coordination/replica.js'
import type { CoordinationMap, LogEntry, Replica } from '../src/coordination/types.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { PluginDir, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

interface Read { p: number; offset: number; id: number; reader: string; seq: number; at: number }
type Owners = Record<string, number[]>

const UNRESPONSIVE_MS = 3000

async function reads(file: string): Promise<Read[]> {
  const text = await readFile(file, 'utf8').catch(() => '')
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Read)
}

async function assigns(sup: Supervisor): Promise<LogEntry[]> {
  return (await sup.coordination.log.read(1, 100_000)).filter((e) => e.type === 'partition-reader/assign')
}

const PLUGIN = new URL('../../plugins/available/partition-reader/index.js', import.meta.url)

/** The plugin's own handlers (its entry is a factory; only `ctx.options` is read to build them). */
async function handlers(): Promise<CoordinationMap> {
  const factory = (await import(PLUGIN.href)).default as (ctx: unknown) => { coordination: CoordinationMap }
  return factory({ options: { partitions: 12 } }).coordination
}

/** The deal in force at each seq, as an instance's replica has it: the log folded with the plugin's own apply. */
function dealsOf(log: LogEntry[], coordination: CoordinationMap): (seq: number) => Owners | undefined {
  let r: Replica = EMPTY_REPLICA
  const at: Array<Owners | undefined> = [undefined]
  for (const e of log) {
    r = applyEntry(r, e, (p) => (p === 'partition-reader' ? coordination : undefined)).next
    at[e.seq] = (r.meta?.['partition-reader'] as { owners: Owners } | undefined)?.owners
  }
  return (seq) => at[Math.min(seq, at.length - 1)]
}

describe('coordination showcase: instances share partitions through the log', () => {
  let dir: PluginDir
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  it('3 instances read 12 partitions, 4 each; a SIGKILLed instance\'s partitions are taken over within unresponsiveMs + 1 s, none read by two at once', async () => {
    const source = await readFile(PLUGIN, 'utf8')
    // Restart policy temporary: the killed instance stays down, so its share must move.
    await dir.add('partition-reader', worker('partition-reader', { isolation: 'process', instances: 3, restart: { policy: 'temporary' }, limits: { unresponsiveMs: UNRESPONSIVE_MS } }), source)
    const out = path.join(dir.root, 'read.ndjson')
    const sup = await dir.start({ config: { plugins: { 'partition-reader': { options: { partitions: 12, out, intervalMs: 10 } } } } })

    // Settled: the last deal gives each of the three instances four partitions, and every instance applied it.
    const coordination = await handlers()
    const settled = await until('three instances with four partitions each', async () => {
      const log = await sup.coordination.log.read(1, 100_000)
      const head = log.at(-1)!.seq
      const owners = dealsOf(log, coordination)(head)
      if (!owners || Object.keys(owners).length !== 3 || !Object.values(owners).every((ps) => ps.length === 4)) return false
      const seq = (await assigns(sup)).at(-1)!.seq
      const applied = sup.status().plugins[0].instances.every((i) => (i.appliedSeq ?? 0) >= head)
      return applied && { seq, owners }
    }, 20_000)
    assert.deepEqual(Object.values(settled.owners).flat().sort((a, b) => a - b), [...Array(12).keys()])

    // Each reads only what it was assigned: every record read at or after the deal, by its owner.
    await until('all twelve partitions read under the settled deal', async () => new Set((await reads(out)).filter((r) => r.seq >= settled.seq).map((r) => r.p)).size === 12, 20_000)
    for (const r of (await reads(out)).filter((x) => x.seq >= settled.seq)) {
      assert.ok(settled.owners[r.id].includes(r.p), `instance ${r.id} read partition ${r.p}, assigned ${settled.owners[r.id]}`)
    }

    // SIGKILL instance 1: its four partitions go to the other two.
    const victim = sup.status().plugins[0].instances[1]
    const lost = settled.owners['1']
    const killedAt = Date.now()
    process.kill(victim.pid, 'SIGKILL')
    await until(`instance 1's partitions read by a live instance within ${UNRESPONSIVE_MS} + 1000 ms`, async () => {
      const after = (await reads(out)).filter((r) => r.at > killedAt && r.reader !== String(victim.pid))
      return lost.every((p) => after.some((r) => r.p === p))
    }, UNRESPONSIVE_MS + 1000)

    const all = await assigns(sup)
    const log = await sup.coordination.log.read(1, 100_000)
    const ownersAt = dealsOf(log, coordination)
    const now = ownersAt(sup.coordination.log.head)!
    assert.deepEqual(Object.keys(now).sort(), ['0', '2'])
    assert.deepEqual(Object.values(now).flat().sort((a, b) => a - b), [...Array(12).keys()])
    const left = log.find((e) => e.type === 'instance/left' && (e.args as { id: number }).id === 1)!
    assert.match((left.args as { cause: string }).cause, /SIGKILL/)

    // No partition read by two instances at once: every record was read by the owner of the deal
    // its reader had applied; beyond that, a record is read twice only at a handover (the
    // checkpoint window), at most once per deal, and none is skipped.
    const records = await reads(out)
    for (const r of records) assert.ok(ownersAt(r.seq)?.[r.id]?.includes(r.p), `instance ${r.id} read ${r.p} at seq ${r.seq} without owning it`)
    for (let p = 0; p < 12; p++) {
      const offsets = records.filter((r) => r.p === p).map((r) => r.offset).sort((a, b) => a - b)
      const distinct = [...new Set(offsets)]
      assert.deepEqual(distinct, [...Array(distinct.length).keys()], `partition ${p}: no record skipped`)
      assert.ok(offsets.length - distinct.length <= all.length, `partition ${p}: ${offsets.length - distinct.length} records read twice, over ${all.length} handovers`)
    }
  })
})
