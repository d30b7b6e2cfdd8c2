/**
 * Reload time to the first event processed by the new code, per isolation, beside the raw cost
 * of starting a bare worker of the same kind and getting one event through it (a worker_threads
 * Worker or a forked child, measured in the same run).
 *
 * The host emits an event every millisecond throughout. Each reload writes a new version of the
 * plugin to disk and calls `sup.reload`; the time runs from that call to the moment the new
 * code's hook ran, stamped in the worker on the shared wall clock. A rolling reload starts the new
 * instance (load, init, whenReady) while the old one serves, then hands over once the old one
 * answered what it held, so this is a cold start plus a hand-over.
 *
 * Also: a reloadable core plugin's reload to its first event, and the heap each core reload
 * leaves behind (an ES module cannot be unloaded; see docs/reload.md).
 */
import { fork } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { runInNewContext } from 'node:vm'
import { setFlagsFromString } from 'node:v8'
import { Worker } from 'node:worker_threads'
import type { Supervisor } from '../src/index.js'
import { BenchPlugins, type Bench, type Row, log, median, until, wallMs } from './common.js'

const RUNS = 10

const versioned = (gen: number) => `
let reported = false
export default { hooks: {
  'reload:tick'(p, ctx) {
    if (reported) return
    reported = true
    ctx.emit('reload:seen', { gen: ${gen}, at: performance.timeOrigin + performance.now() })
  },
} }
`
const observer = `export default { hooks: { 'reload:seen'(p) { globalThis.__benchReloadSeen(p) } } }\n`

type Seen = { gen: number; at: number }

async function reloadTimes(kind: 'thread' | 'process' | 'core'): Promise<number[]> {
  const seen: Seen[] = []
  ;(globalThis as { __benchReloadSeen?: (p: Seen) => void }).__benchReloadSeen = (p) => void seen.push(p)
  const dir = await BenchPlugins.create()
  const manifest = (gen: number) => (kind === 'core' ? { type: 'core', reloadable: true } : { type: 'worker', worker: { isolation: kind } })
  // A core plugin reports in-process: its hook calls the observer through the bus like a worker's.
  const code = versioned
  let sup: Supervisor | undefined
  try {
    await dir.add('observer', { type: 'core' }, observer)
    await dir.add('hot', manifest(0), code(0))
    sup = await dir.start()
    const s = sup
    const feed = setInterval(() => s.emit('reload:tick', {}), 1)
    const times: number[] = []
    try {
      await until('the first code ticking', () => seen.length > 0)
      // One warm-up reload, then the runs.
      for (let gen = 1; gen <= RUNS + 1; gen++) {
        const file = path.join(dir.root, 'available', 'hot')
        await writeFile(path.join(file, 'manifest.json'), JSON.stringify({ name: 'hot', version: `${gen + 1}.0.0`, ...manifest(gen) }))
        await writeFile(path.join(file, 'index.js'), code(gen))
        const t0 = wallMs()
        await s.reload('hot')
        await until('the new code processing', () => seen[seen.length - 1].gen === gen, 10_000)
        if (gen > 1) times.push(seen.find((x) => x.gen === gen)!.at - t0)
      }
      return times
    } finally {
      clearInterval(feed)
    }
  } finally {
    await sup?.stop()
    await dir.remove()
  }
}

/** A bare worker of the kind, started and sent one event; resolves once its answer came back. */
async function rawStart(kind: 'thread' | 'process'): Promise<number> {
  const t0 = wallMs()
  const one = [{ seq: 0, event: 'reload:tick', subscription: 'reload:tick', payload: {} }]
  if (kind === 'thread') {
    const w = new Worker(fileURLToPath(new URL('./raw-thread-worker.js', import.meta.url)))
    await new Promise((resolve) => {
      w.once('message', resolve)
      w.postMessage(one)
    })
    const ms = wallMs() - t0
    await w.terminate()
    return ms
  }
  const child = fork(fileURLToPath(new URL('./raw-fork-child.js', import.meta.url)), [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] })
  await new Promise((resolve) => {
    child.once('message', resolve)
    child.send(one)
  })
  const ms = wallMs() - t0
  const gone = new Promise((r) => child.once('exit', r))
  child.disconnect()
  await gone
  return ms
}

/** Heap kept per core reload: many reloads of a small reloadable core plugin, with a full GC before and after. */
async function coreHeapPerReload(reloads: number): Promise<number> {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const dir = await BenchPlugins.create()
  let sup: Supervisor | undefined
  try {
    await dir.add('hot', { type: 'core', reloadable: true }, versioned(0))
    sup = await dir.start()
    const file = path.join(dir.root, 'available', 'hot', 'index.js')
    await sup.reload('hot')
    gc()
    const before = process.memoryUsage().heapUsed
    for (let i = 1; i <= reloads; i++) {
      await writeFile(file, versioned(i))
      await sup.reload('hot')
    }
    gc()
    return (process.memoryUsage().heapUsed - before) / reloads
  } finally {
    await sup?.stop()
    await dir.remove()
  }
}

export const reload: Bench = {
  name: 'reload',
  title: 'reload to first event processed by the new code',
  async run() {
    const rows: Row[] = []
    for (const kind of ['thread', 'process'] as const) {
      const times = await reloadTimes(kind)
      const raws: number[] = []
      for (let i = 0; i < RUNS; i++) raws.push(await rawStart(kind))
      const sys = median(times)
      const raw = median(raws)
      log(`reload ${kind}: median ${sys.toFixed(1)} ms [${times.map((x) => x.toFixed(0)).join(' ')}]; raw start + one event ${raw.toFixed(1)} ms`)
      rows.push({ metric: `reload → first event of the new code, ${kind}, 1 instance`, unit: 'ms', raw, system: sys, ratio: sys / raw, target: 'report', met: null, note: `min ${Math.min(...times).toFixed(0)}, max ${Math.max(...times).toFixed(0)}; raw = a bare ${kind === 'thread' ? 'Worker' : 'fork'} started and answering one event` })
    }
    const core = await reloadTimes('core')
    const c = median(core)
    log(`reload core: median ${c.toFixed(2)} ms [${core.map((x) => x.toFixed(1)).join(' ')}]`)
    rows.push({ metric: 'reload → first event of the new code, core (reloadable)', unit: 'ms', raw: null, system: c, ratio: null, target: 'report', met: null, note: `min ${Math.min(...core).toFixed(1)}, max ${Math.max(...core).toFixed(1)}` })
    const perReload = await coreHeapPerReload(200)
    log(`core reload heap kept: ${(perReload / 1024).toFixed(1)} KiB per reload`)
    rows.push({ metric: 'heap kept per core reload (200 reloads, full GC)', unit: 'KiB', raw: null, system: perReload / 1024, ratio: null, target: 'report', met: null })
    return rows
  },
}
