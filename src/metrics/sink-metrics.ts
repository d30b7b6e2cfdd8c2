/** The `/metrics` series of sinks: per plugin and sink pattern, read from the status report's `sinks`. */
import { Counter, Gauge, type Registry } from 'prom-client'
import type { PluginStatus, StatusReport } from '../supervisor/status-types.js'

type SinkCounters = NonNullable<PluginStatus['sinks']>[string]

const SINK_COUNTERS: Array<[metric: string, key: keyof SinkCounters, help: string]> = [
  ['batches', 'batches', 'Sink batches formed'],
  ['events', 'events', 'Events gathered into sink batches'],
  ['written', 'written', 'Sink batches written'],
  ['failed', 'failed', 'Sink batches whose write failed for good'],
  ['dead_lettered', 'deadLettered', 'Sink batches dead-lettered after their attempts'],
  ['dropped', 'dropped', "Sink batches dropped or refused by the plugin's queue"],
  ['retries', 'retries', 'Sink batch writes beyond the first'],
]

export function registerSinkMetrics(registry: Registry, report: () => StatusReport): void {
  const each = (f: (plugin: string, sink: string, c: SinkCounters) => void) => {
    for (const p of report().plugins) for (const [sink, c] of Object.entries(p.sinks ?? {})) f(p.name, sink, c)
  }
  for (const [metric, key, help] of SINK_COUNTERS) {
    // Counters only go up: each scrape adds the growth since the last (a reset adds its new value).
    const last = new Map<string, number>()
    new Counter({
      name: `outrigger_sink_${metric}_total`,
      help,
      labelNames: ['plugin', 'sink'],
      registers: [registry],
      collect() {
        each((plugin, sink, c) => {
          const id = `${plugin}\0${sink}`
          const now = c[key]
          const before = last.get(id) ?? 0
          this.inc({ plugin, sink }, now >= before ? now - before : now)
          last.set(id, now)
        })
      },
    })
  }
  new Gauge({
    name: 'outrigger_sink_pending',
    help: 'Events gathered for the next sink batch',
    labelNames: ['plugin', 'sink'],
    registers: [registry],
    collect() {
      this.reset()
      each((plugin, sink, c) => this.set({ plugin, sink }, c.pending))
    },
  })
}
