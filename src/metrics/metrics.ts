import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Supervisor } from '../supervisor/types.js'
import type { PluginStatus, StatusReport } from '../supervisor/status-types.js'
import { registerSinkMetrics } from './sink-metrics.js'

/** The Prometheus face of one supervisor; see {@link createMetrics}. */
export interface Metrics {
  /** A private registry: two supervisors in one process never share or clash on series. */
  readonly registry: Registry
  /** The text exposition format, read from one status report. */
  render(): Promise<string>
  /** The supervisor reports one handler run of a plugin, in milliseconds. */
  observeHandler(plugin: string, ms: number): void
  readonly contentType: string
}

/** Status counters exported as Prometheus counters (`outrigger_events_<name>_total`). */
const EVENT_COUNTERS: Array<[metric: string, read: (p: PluginStatus) => number, help: string]> = [
  ['received', (p) => p.events.received, 'Events enqueued for (or delivered to) the plugin'],
  ['processed', (p) => p.events.processed, 'Events the plugin handled without error'],
  ['failed', (p) => p.events.failed, 'Handler runs that threw or timed out'],
  ['dropped', (p) => p.queue.dropped, "Events dropped by the queue's overflow policy"],
  ['rejected', (p) => p.queue.rejected, 'Events refused (not cloneable, or queue full under reject)'],
  ['lost', (p) => p.events.lost, 'At-most-once events in flight when an instance died'],
  ['redelivered', (p) => p.events.redelivered, 'At-least-once redeliveries'],
  ['recovered', (p) => p.events.recovered, 'Durable events an earlier run left in the journal, read back in this run'],
  ['dead_lettered', (p) => p.events.deadLettered, 'At-least-once events that ran out of attempts'],
]

/**
 * Builds the metrics of a supervisor. Everything but the handler histogram is read from
 * `sup.status()` when scraped (prom-client `collect()` callbacks), so there is one source of truth
 * and no bookkeeping on the hot path.
 */
export function createMetrics(sup: Supervisor, opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry()
  // One status report serves every collect() of a scrape, so all series describe the same instant.
  let snapshot: StatusReport | undefined
  const report = (): StatusReport => snapshot ?? sup.status()

  const perPlugin = (name: string, help: string, read: (p: PluginStatus) => number): Gauge =>
    new Gauge({
      name,
      help,
      labelNames: ['plugin'],
      registers: [registry],
      collect() {
        this.reset()
        for (const p of report().plugins) this.set({ plugin: p.name }, read(p))
      },
    })

  perPlugin('outrigger_queue_depth', 'Events waiting in the plugin queue', (p) => p.queue.depth)
  perPlugin('outrigger_queue_max', 'Capacity of the plugin queue', (p) => p.queue.max)
  perPlugin('outrigger_events_in_flight', 'Events sent to an instance and not yet acknowledged', (p) => p.events.inFlight)

  for (const [metric, read, help] of EVENT_COUNTERS) monotoneCounter(registry, `outrigger_events_${metric}_total`, help, report, read)
  monotoneCounter(registry, 'outrigger_restarts_total', 'Restarts of the plugin (all instances)', report, (p) => p.restarts)
  registerSinkMetrics(registry, report)

  new Gauge({
    name: 'outrigger_plugin_state',
    help: 'The plugin state: 1 on the series of the current state',
    labelNames: ['plugin', 'state'],
    registers: [registry],
    collect() {
      this.reset()
      for (const p of report().plugins) this.set({ plugin: p.name, state: p.state }, 1)
    },
  })

  new Gauge({
    name: 'outrigger_health',
    help: 'Supervisor health: 1 on the series of the current health',
    labelNames: ['health'],
    registers: [registry],
    collect() {
      this.reset()
      this.set({ health: report().health }, 1)
    },
  })

  const handler = new Histogram({
    name: 'outrigger_handler_duration_seconds',
    help: 'Duration of handler runs (hooks, functions) per plugin',
    labelNames: ['plugin'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  })

  new Gauge({
    name: 'outrigger_instance_memory_bytes',
    help: 'Memory of a worker instance held against its limit (heap plus external for threads, RSS for processes)',
    labelNames: ['plugin', 'instance'],
    registers: [registry],
    collect() {
      // Reset so an instance that is gone stops being reported rather than freezing at its last value.
      this.reset()
      for (const p of report().plugins) {
        for (const i of p.instances) this.set({ plugin: p.name, instance: String(i.id) }, i.memoryMb * 1024 * 1024)
      }
    },
  })

  const hostLoop = (name: string, help: string, read: (r: StatusReport) => number): Gauge =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(report()))
      },
    })
  hostLoop('outrigger_host_eventloop_delay_p50_seconds', "Host event-loop delay, median", (r) => r.eventLoop.p50Ms / 1000)
  hostLoop('outrigger_host_eventloop_delay_p99_seconds', 'Host event-loop delay, 99th percentile', (r) => r.eventLoop.p99Ms / 1000)
  hostLoop('outrigger_host_eventloop_delay_max_seconds', 'Host event-loop delay, maximum', (r) => r.eventLoop.maxMs / 1000)
  hostLoop('outrigger_host_eventloop_utilization', 'Host event-loop utilization (0..1)', (r) => r.eventLoop.utilization)

  let loggedDrops = 0
  new Counter({
    name: 'outrigger_logs_dropped_total',
    help: 'Log lines the host dropped because stdout or stderr could not take them',
    registers: [registry],
    collect() {
      const now = report().logs.dropped
      this.inc(Math.max(0, now - loggedDrops))
      loggedDrops = Math.max(loggedDrops, now)
    },
  })

  if (opts.defaultMetrics !== false) {
    collectDefaultMetrics({ register: registry, prefix: 'outrigger_' })
    // prom-client's `nodejs_active_{handles,requests,resources}_total` are gauges with a counter's
    // suffix, which `promtool check metrics` rejects; the same counts by type stay in
    // `nodejs_active_handles`, `nodejs_active_requests` and `nodejs_active_resources`.
    for (const kind of ['handles', 'requests', 'resources']) registry.removeSingleMetric(`outrigger_nodejs_active_${kind}_total`)
  }

  const children = new Map<string, ReturnType<typeof handler.labels>>()
  return {
    registry,
    contentType: registry.contentType,
    async render() {
      snapshot = sup.status()
      try {
        return await registry.metrics()
      } finally {
        snapshot = undefined
      }
    },
    observeHandler(plugin, ms) {
      // Called per handled event: the labelled child is looked up once per plugin, not per call.
      let child = children.get(plugin)
      if (!child) children.set(plugin, (child = handler.labels({ plugin })))
      if (Number.isFinite(ms) && ms >= 0) child.observe(ms / 1000)
    },
  }
}

/**
 * A Prometheus counter fed from a status total. Counters may only go up, so each scrape adds the
 * growth since the last one; a total that went down (a plugin reloaded and began counting anew)
 * is treated like a counter reset and its whole new value is added.
 */
function monotoneCounter(
  registry: Registry,
  name: string,
  help: string,
  report: () => StatusReport,
  read: (p: PluginStatus) => number,
): Counter {
  const last = new Map<string, number>()
  return new Counter({
    name,
    help,
    labelNames: ['plugin'],
    registers: [registry],
    collect() {
      for (const p of report().plugins) {
        const now = read(p)
        const before = last.get(p.name) ?? 0
        const growth = now >= before ? now - before : now
        // inc() with 0 still creates the series, so a plugin that has seen nothing reads 0, not absent.
        this.inc({ plugin: p.name }, growth)
        last.set(p.name, now)
      }
    },
  })
}
