/**
 * A pipe chain of three core plugins (`sup.pipe`) against three bare awaited async functions
 * doing the same thing, one chain at a time.
 */
import { type Bench, log, median, pairedRounds, withSupervisor } from './common.js'

const ROUNDS = 7
const WARMUP = 2
const N = 200_000

const step = (k: string) => `export default { pipes: { async 'bench:pipe'(p) { return { ...p, ${k}: true } } } }\n`

type Doc = Record<string, unknown>
async function f1(p: Doc): Promise<Doc> { return { ...p, a: true } }
async function f2(p: Doc): Promise<Doc> { return { ...p, b: true } }
async function f3(p: Doc): Promise<Doc> { return { ...p, c: true } }

async function rawRate(): Promise<number> {
  const payload = { n: 1 }
  const t0 = performance.now()
  for (let i = 0; i < N; i++) {
    let v = await f1(payload)
    v = await f2(v)
    v = await f3(v)
    if (!v.c) throw new Error('bad chain')
  }
  return N / ((performance.now() - t0) / 1000)
}

async function supRate(pipe: (e: string, p: Record<string, unknown>) => Promise<Record<string, unknown>>): Promise<number> {
  const payload = { n: 1 }
  const t0 = performance.now()
  for (let i = 0; i < N; i++) {
    const v = await pipe('bench:pipe', payload)
    if (!v.c) throw new Error('bad chain')
  }
  return N / ((performance.now() - t0) / 1000)
}

export const pipeChain: Bench = {
  name: 'pipe-chain',
  title: 'three-plugin core pipe chain vs three awaited async functions',
  async run() {
    // Library mode first, then with every pipe call named for the host error policy (whose
    // promise hooks, on Node 20, stay on for the process once on).
    const rows = []
    for (const handleProcessErrors of [false, true]) {
      const plugins: Array<[string, object, string]> = [['p1', { type: 'core' }, step('a')], ['p2', { type: 'core' }, step('b')], ['p3', { type: 'core' }, step('c')]]
      rows.push(
        await withSupervisor(
          plugins,
          async (sup) => {
            const pipe = (e: string, p: Record<string, unknown>) => sup.pipe(e, p)
            const { sys, raw } = await pairedRounds(WARMUP, ROUNDS, () => supRate(pipe), rawRate)
            const s = median(sys)
            const b = median(raw)
            const named = handleProcessErrors ? ' (handleProcessErrors)' : ''
            log(`pipe-chain${named}: sup.pipe ${Math.round(s)} ops/s, bare ${Math.round(b)} ops/s`)
            return { metric: `pipe chain of 3 core plugins${named}`, unit: 'ops/s', raw: b, system: s, ratio: s / b, target: '≥ 0.80 of raw', met: s / b >= 0.8 }
          },
          undefined,
          { handleProcessErrors },
        ),
      )
    }
    return rows
  },
}
