/**
 * Per-plugin metrics for pm2 (`pm2 monit`, `pm2 show`, `pm2 jlist` → `pm2_env.axm_monitor`),
 * taken from one `sup.status()` per tick: a status report is cheap, but not cheap enough to build
 * once per metric, which is what @pm2/io's passive (function-valued) metrics would do.
 */
import type { StatusReport } from '../supervisor/status-types.js'
import type { Supervisor } from '../supervisor/types.js'
import type { Pm2Gauge, Pm2Io } from './io.js'

export interface MetricValue {
  name: string
  value: number | string
  unit?: string
}

/** The host's event-loop p99, as the supervisor measures it. */
export const EVENT_LOOP_METRIC = 'event loop p99'

/**
 * The metric values of one report. `prev` (the report one tick earlier) gives the rates; without
 * it they read 0. Names are `<plugin> <what>`, so a plugin's metrics sort together in `pm2 monit`.
 */
export function metricValues(cur: StatusReport, prev: StatusReport | undefined, elapsedMs: number): MetricValue[] {
  const out: MetricValue[] = [{ name: EVENT_LOOP_METRIC, value: round(cur.eventLoop.p99Ms), unit: 'ms' }]
  for (const p of cur.plugins) {
    const before = prev?.plugins.find((x) => x.name === p.name)
    const done = (e: StatusReport['plugins'][number]['events']): number => e.processed + e.failed
    // A restarted supervisor or a reset counter must not show a negative rate.
    const rate = before && elapsedMs > 0 ? Math.max(0, done(p.events) - done(before.events)) / (elapsedMs / 1000) : 0
    out.push(
      { name: `${p.name} state`, value: p.state },
      { name: `${p.name} queue`, value: p.queue.depth },
      { name: `${p.name} events/s`, value: round(rate), unit: 'ev/s' },
      { name: `${p.name} failed`, value: p.events.failed },
      { name: `${p.name} restarts`, value: p.restarts },
    )
    // Core plugins share the host's memory (pm2 shows that one itself); workers have their own.
    if (p.type === 'worker') out.push({ name: `${p.name} memory`, value: round(p.instances.reduce((sum, i) => sum + i.memoryMb, 0)), unit: 'MB' })
  }
  return out
}

/** Publishes `metricValues` every `intervalMs`; returns the function that stops it. */
export function publishMetrics(io: Pm2Io, sup: Supervisor, intervalMs: number): () => void {
  const gauges = new Map<string, Pm2Gauge>()
  let prev: StatusReport | undefined
  let prevAt = 0
  const tick = (): void => {
    const now = Date.now()
    const cur = sup.status()
    for (const m of metricValues(cur, prev, now - prevAt)) {
      let g = gauges.get(m.name)
      if (!g) gauges.set(m.name, (g = io.metric({ name: m.name, unit: m.unit })))
      g.set(m.value)
    }
    prev = cur
    prevAt = now
  }
  tick()
  // unref: metrics never keep a stopping process alive.
  const timer = setInterval(tick, intervalMs).unref()
  return () => clearInterval(timer)
}

function round(n: number): number {
  return Math.round(n * 100) / 100
}
