/**
 * Core hook dispatch: `sup.emit` to a core plugin's hook, counted until every listener ran,
 * against a bare EventEmitter with the same listener.
 */
import { EventEmitter } from 'node:events'
import { type Bench, log, median, pairedRounds, withSupervisor } from './common.js'

const ROUNDS = 7
const WARMUP = 2
const N_SUP = 500_000
const N_RAW = 5_000_000

const g = globalThis as { __benchHits?: number }

async function supRate(emit: (e: string, p: unknown) => void): Promise<number> {
  g.__benchHits = 0
  const payload = { n: 1 }
  const t0 = performance.now()
  for (let i = 0; i < N_SUP; i++) emit('bench:hit', payload)
  // Core hooks run in microtasks queued by emit; these all run before the await resumes.
  await Promise.resolve()
  while (g.__benchHits < N_SUP) await new Promise((r) => setImmediate(r))
  return N_SUP / ((performance.now() - t0) / 1000)
}

function rawRate(): number {
  const ee = new EventEmitter()
  let hits = 0
  ee.on('bench:hit', () => void hits++)
  const payload = { n: 1 }
  const t0 = performance.now()
  for (let i = 0; i < N_RAW; i++) ee.emit('bench:hit', payload)
  const ms = performance.now() - t0
  if (hits !== N_RAW) throw new Error('EventEmitter lost events')
  return N_RAW / (ms / 1000)
}

const COUNTER: Array<[string, object, string]> = [['counter', { type: 'core' }, `export default { hooks: { 'bench:hit'() { globalThis.__benchHits++ } } }\n`]]

/**
 * Library mode first, then with `handleProcessErrors` (every hook call named for the host error
 * policy). In that order: on Node 20 the named calls' promise hooks stay on for the process.
 */
export const hookDispatch: Bench = {
  name: 'hook-dispatch',
  title: 'core hook dispatch vs EventEmitter',
  async run() {
    const rows = []
    for (const handleProcessErrors of [false, true]) {
      rows.push(
        await withSupervisor(
          COUNTER,
          async (sup) => {
            const emit = (e: string, p: unknown) => sup.emit(e, p)
            const { sys, raw } = await pairedRounds(WARMUP, ROUNDS, () => supRate(emit), rawRate)
            const s = median(sys)
            const b = median(raw)
            const named = handleProcessErrors ? ' (handleProcessErrors)' : ''
            log(`hook-dispatch${named}: sup.emit ${Math.round(s)} ev/s, EventEmitter ${Math.round(b)} ev/s`)
            return { metric: `core hook emit → listener ran${named}`, unit: 'events/s', raw: b, system: s, ratio: s / b, target: 'none (anchor 35M/s raw)', met: null }
          },
          undefined,
          { handleProcessErrors },
        ),
      )
    }
    return rows
  },
}
