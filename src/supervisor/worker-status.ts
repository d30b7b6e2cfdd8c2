import type { Dispatcher } from '../delivery/dispatcher.js'
import type { DurableQueue } from '../delivery/durable-queue.js'
import type { WorkerSettings } from '../manifest/schema.js'
import type { InstanceSet } from '../supervision/instance-set.js'
import { confinementFlags } from './confinement.js'
import type { SupervisorRuntime } from './plugin-handle.js'
import type { PluginState, PluginStatus } from './status-types.js'

/** What a worker plugin's status row is made of. */
export interface WorkerStatusParts {
  name: string
  version: string
  shadowed: string[]
  cfg: WorkerSettings
  hooks: string[]
  functions: string[]
  lastError: PluginStatus['lastError']
  dispatcher: Dispatcher
  durable: DurableQueue | undefined
  instances: InstanceSet
  /** Where the plugin's folder and state are: a confined plugin's flags name them. */
  rootPath: string
  stateDir: string
}

/** A worker plugin's row of the status report, its books balanced (DESIGN §5). */
export function workerStatus(p: WorkerStatusParts): PluginStatus {
  const c = p.dispatcher.counters
  const parked = p.durable?.parked ?? 0
  return {
    name: p.name,
    version: p.version,
    type: 'worker',
    isolation: p.cfg.isolation,
    delivery: p.cfg.delivery,
    state: p.instances.state,
    hooks: p.hooks,
    pipes: [],
    controllers: [],
    functions: p.functions,
    shadowed: p.shadowed,
    restarts: p.instances.restarts,
    lastError: p.lastError,
    // Parked events (durable, waiting in the journal only) are received and queued.
    queue: { depth: p.dispatcher.depth() + parked, max: p.cfg.queue.max, dropped: c.dropped, rejected: c.rejected },
    events: { received: c.received + parked, processed: c.processed, failed: c.failed, inFlight: c.inFlight, redelivered: c.redelivered, recovered: p.durable?.recovered ?? 0, deadLettered: c.deadLettered, lost: c.lost },
    handlerMs: p.dispatcher.latency.percentiles(),
    instances: p.instances.statuses(),
    ...confinement(p),
  }
}

/** A confined plugin's row says which Node flags its children are forked with. */
function confinement(p: WorkerStatusParts): Pick<PluginStatus, 'permissions'> {
  const flags = confinementFlags(p.cfg, p.rootPath, p.stateDir, p.name)
  return flags ? { permissions: { flags } } : {}
}

/** Every transition of a worker plugin is logged and published as `outrigger:plugin:<state>`. */
export function publishState(rt: SupervisorRuntime, plugin: string, lastError: PluginStatus['lastError'], next: PluginState, prev: PluginState): void {
  // The supervisor logs a failure itself, once, with its cause: the move to failed says nothing more.
  if (next !== 'failed') {
    const level = next === 'running' || next === 'starting' || next === 'stopped' ? 'info' : 'warn'
    rt.log[level]({ plugin, from: prev, to: next, lastError }, `plugin "${plugin}": ${prev} → ${next}`)
  }
  rt.bus.emit(`outrigger:plugin:${next}`, { plugin, from: prev, lastError })
}
