/**
 * Restart time to the first event processed by the new instance, per isolation. The old
 * instance is killed for real (thread: its hook calls process.exit; process: SIGKILL of the
 * child's pid), while the host keeps emitting an event every millisecond. The time runs from the
 * kill (for a thread: the emit of the fatal event) to the moment the new instance's hook ran,
 * stamped in the worker on the shared wall clock.
 *
 * The restart policy is pinned to a constant backoff (`initial` = `max`), with a crash budget
 * large enough for every run: 100 ms is the default policy's first-restart delay, 0 ms isolates
 * the restart mechanics.
 */
import type { Supervisor } from '../src/index.js'
import { type Bench, type Row, log, median, pluginStatus, until, wallMs, withSupervisor } from './common.js'

const RUNS = 10

const victim = `
const gen = Math.random()
let reported = false
export default { hooks: {
  'restart:tick'(p, ctx) {
    if (reported) return
    reported = true
    ctx.emit('restart:seen', { gen, at: performance.timeOrigin + performance.now() })
  },
  'restart:die'() { process.exit(1) },
} }
`
const observer = `export default { hooks: { 'restart:seen'(p) { globalThis.__benchSeen(p) } } }\n`

async function restartTimes(isolation: 'thread' | 'process', backoff: number): Promise<number[]> {
  const seen: Array<{ gen: number; at: number }> = []
  ;(globalThis as { __benchSeen?: (p: { gen: number; at: number }) => void }).__benchSeen = (p) => void seen.push(p)
  const manifest = {
    type: 'worker',
    worker: { isolation, restart: { policy: 'permanent', maxRestarts: 1000, windowMs: 60_000, backoffMs: { initial: backoff, max: backoff } } },
  }
  return withSupervisor([['observer', { type: 'core' }, observer], ['victim', manifest, victim]], async (sup: Supervisor) => {
    const feed = setInterval(() => sup.emit('restart:tick', {}), 1)
    const times: number[] = []
    try {
      await until('first instance ticking', () => seen.length > 0)
      // One warm-up restart (first fork and thread start pay for cold caches), then the runs.
      for (let r = 0; r < RUNS + 1; r++) {
        const gen = seen[seen.length - 1].gen
        const t0 = wallMs()
        if (isolation === 'thread') sup.emit('restart:die', {})
        else process.kill(pluginStatus(sup, 'victim').instances[0].pid, 'SIGKILL')
        await until('the new instance processing', () => seen[seen.length - 1].gen !== gen, 10_000)
        if (r > 0) times.push(seen[seen.length - 1].at - t0)
        await until('the instance running', () => pluginStatus(sup, 'victim').instances[0].state === 'running')
      }
      return times
    } finally {
      clearInterval(feed)
    }
  })
}

export const restart: Bench = {
  name: 'restart',
  title: 'restart to first processed event',
  async run() {
    const rows: Row[] = []
    for (const isolation of ['thread', 'process'] as const) {
      const zero = await restartTimes(isolation, 0)
      const dflt = await restartTimes(isolation, 100)
      const z = median(zero)
      const d = median(dflt)
      const target = isolation === 'thread' ? 100 : 300
      log(`restart ${isolation}: backoff 0 → median ${z.toFixed(1)} ms [${zero.map((x) => x.toFixed(0)).join(' ')}]; backoff 100 → median ${d.toFixed(1)} ms [${dflt.map((x) => x.toFixed(0)).join(' ')}]`)
      rows.push(
        { metric: `restart → first event, ${isolation}, backoff 0`, unit: 'ms', raw: null, system: z, ratio: null, target: `≤ ${target} ms`, met: z <= target, note: `min ${Math.min(...zero).toFixed(0)}, max ${Math.max(...zero).toFixed(0)}` },
        { metric: `restart → first event, ${isolation}, backoff 100 (default first delay)`, unit: 'ms', raw: null, system: d, ratio: null, target: `≤ ${target} ms`, met: d <= target, note: `min ${Math.min(...dflt).toFixed(0)}, max ${Math.max(...dflt).toFixed(0)}` },
      )
    }
    return rows
  },
}
