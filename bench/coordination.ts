/**
 * The coordination log: entries appended by the supervisor and applied by every instance of a
 * worker plugin (4 thread instances), beside a raw pipeline doing the same work by hand in the
 * same run: one lmdb put per entry, then each committed entry posted to 4 bare worker threads
 * that fold it into a plain object and answer the seq they reached.
 *   (a) rate: N entries appended as fast as the log takes them, until all 4 replicas applied the
 *       last one (entries/s);
 *   (b) latency: one entry at a time, from `append` to applied in every instance, p50 and p99.
 * The instances run at the host's priority (`workerNice` 0), as the raw threads do.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import { open } from 'lmdb'
import type { Supervisor } from '../src/index.js'
import { type Bench, type Row, log, median, withSupervisor, yieldToLoop } from './common.js'

const N = 20_000
const CHUNK = 512
const SAMPLES = 300
const INSTANCES = 4

const PLUGIN = `export default {
  coordination: { 'bench-coord/tick': { apply: (a, r) => ({ n: (r.meta?.['bench-coord']?.n ?? 0) + 1, last: a.i }) } },
}`

/** What each raw thread does: fold the entries it is sent into an object, answer the last seq. */
const RAW_THREAD = `
const { parentPort } = require('node:worker_threads')
let state = {}
parentPort.on('message', (entries) => {
  for (const e of entries) state = { ...state, n: (state.n ?? 0) + 1, last: e.args.i }
  parentPort.postMessage(entries[entries.length - 1].seq)
})`

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}

/** The raw pipeline: lmdb puts, then a broadcast of what committed to 4 threads, one batch in flight each. */
class RawPipeline {
  private readonly threads: Worker[]
  private readonly applied: number[] = new Array(INSTANCES).fill(0)
  private readonly sending: boolean[] = new Array(INSTANCES).fill(false)
  private committed: Array<{ seq: number; type: string; args: { i: number }; at: number }> = []
  private seq = 0
  private chain: Promise<void> = Promise.resolve()

  private constructor(private readonly env: ReturnType<typeof open>, private readonly db: ReturnType<ReturnType<typeof open>['openDB']>) {
    this.threads = Array.from({ length: INSTANCES }, (_, i) => {
      const w = new Worker(RAW_THREAD, { eval: true })
      w.on('message', (seq: number) => {
        this.applied[i] = seq
        this.sending[i] = false
        this.push(i)
      })
      return w
    })
  }

  static async open(dir: string): Promise<RawPipeline> {
    const env = open({ path: dir, compression: false })
    return new RawPipeline(env, env.openDB({ name: 'entries' }))
  }

  append(i: number): Promise<number> {
    const e = { seq: ++this.seq, type: 'bench-coord/tick', args: { i }, at: Date.now() }
    const put = this.db.put(e.seq, e)
    this.chain = this.chain.then(async () => {
      await put
      this.committed.push(e)
      for (let t = 0; t < INSTANCES; t++) this.push(t)
    })
    return this.chain.then(() => e.seq)
  }

  private push(t: number): void {
    if (this.sending[t]) return
    const from = this.applied[t]
    const first = this.committed[0]?.seq ?? 1
    const batch = this.committed.slice(from + 1 - first, from + 1 - first + 512)
    if (!batch.length) return
    this.sending[t] = true
    this.threads[t].postMessage(batch)
  }

  minApplied(): number {
    return Math.min(...this.applied)
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((w) => w.terminate()))
    await this.env.close()
  }
}

const minApplied = (sup: Supervisor): number => Math.min(...Array.from({ length: INSTANCES }, (_, id) => sup.coordination.applied('bench-coord', id) ?? 0))

async function everywhere(applied: () => number, seq: number): Promise<void> {
  while (applied() < seq) await yieldToLoop()
}

/** Appends `n` entries, `CHUNK` per event-loop turn, and waits until every replica applied the last. */
async function rate(append: (i: number) => Promise<number>, applied: () => number, n: number): Promise<number> {
  const t0 = performance.now()
  let last: Promise<number> = Promise.resolve(0)
  for (let i = 0; i < n; ) {
    const end = Math.min(n, i + CHUNK)
    for (; i < end; i++) last = append(i)
    await yieldToLoop()
  }
  await everywhere(applied, await last)
  return n / ((performance.now() - t0) / 1000)
}

async function latencies(append: (i: number) => Promise<number>, applied: () => number): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < SAMPLES; i++) {
    const t0 = performance.now()
    await everywhere(applied, await append(i))
    out.push(performance.now() - t0)
  }
  return out
}

export const coordination: Bench = {
  name: 'coordination',
  title: `coordination log: entries appended and applied across ${INSTANCES} thread instances, beside lmdb puts broadcast to ${INSTANCES} bare threads`,
  async run(): Promise<Row[]> {
    const dir = await mkdtemp(path.join(tmpdir(), 'outrigger-bench-coord-'))
    const raw = await RawPipeline.open(dir)
    try {
      return await withSupervisor([['bench-coord', { type: 'worker', worker: { isolation: 'thread', instances: INSTANCES } }, PLUGIN]], async (sup) => {
        const append = (i: number) => sup.coordination.propose('bench-coord', 'bench-coord/tick', { i })
        const applied = () => minApplied(sup)
        await everywhere(applied, sup.coordination.log.head)
        // Warm both paths, then alternate them so drift hits both alike.
        await rate(append, applied, 2000)
        await rate((i) => raw.append(i), () => raw.minApplied(), 2000)
        const sysRates: number[] = []
        const rawRates: number[] = []
        for (let r = 0; r < 3; r++) {
          sysRates.push(await rate(append, applied, N))
          rawRates.push(await rate((i) => raw.append(i), () => raw.minApplied(), N))
        }
        const sysLat = await latencies(append, applied)
        const rawLat = await latencies((i) => raw.append(i), () => raw.minApplied())
        const sys = median(sysRates)
        const base = median(rawRates)
        log(`rates: outrigger ${sysRates.map((x) => x.toFixed(0)).join(' ')}; raw ${rawRates.map((x) => x.toFixed(0)).join(' ')}`)
        return [
          { metric: `appended and applied in ${INSTANCES} instances`, unit: 'entries/s', raw: base, system: sys, ratio: sys / base, target: 'info', met: null },
          { metric: 'append → applied everywhere, p50', unit: 'ms', raw: percentile(rawLat, 50), system: percentile(sysLat, 50), ratio: null, target: 'info', met: null },
          { metric: 'append → applied everywhere, p99', unit: 'ms', raw: percentile(rawLat, 99), system: percentile(sysLat, 99), ratio: null, target: 'info', met: null },
        ]
      }, { workerNice: 0 })
    } finally {
      await raw.close()
      await rm(dir, { recursive: true, force: true })
    }
  },
}
