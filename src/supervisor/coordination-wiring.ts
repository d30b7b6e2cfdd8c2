/**
 * Where the supervisor meets the coordination log: the built-in entries its plugins' lives make,
 * each worker instance's replication, the core plugins' `ctx.coordination`, and the log's figures
 * in the status report. Kept apart so the plugin handles change by a line each.
 */
import type { BuiltInType, StopCause } from '../coordination/builtin.js'
import type { Coordinator } from '../coordination/coordinator.js'
import type { ReplicaHolder } from '../coordination/replicator.js'
import type { CoordinationApi } from '../coordination/types.js'
import { OutriggerError } from '../errors.js'
import type { InstanceSetEvents } from '../supervision/instance-set.js'
import type { PluginHandle } from './plugin-handle.js'
import type { PluginState, PluginStatus, StatusReport } from './status-types.js'

/**
 * A worker plugin's instance events, with the log told of them: `instance/joined` and
 * `instance/left` (with the cause), `plugin/*` on its state changes, and replication to each
 * instance that comes up.
 */
export function withCoordination(plugin: string, c: Coordinator | undefined, lastError: () => PluginStatus['lastError'], shutdown: AbortSignal, on: InstanceSetEvents): InstanceSetEvents {
  if (!c) return on
  return {
    up(id, instance) {
      on.up(id, instance)
      const joined = c.builtIn('instance/joined', { plugin, id: c.peerId(id), pid: instance.pid, threadId: instance.threadId })
      if (instance.coordinate) c.attach(plugin, id, instance as ReplicaHolder, joined)
    },
    down(id, cause, how) {
      on.down(id, cause, how)
      c.detach(plugin, id)
      void c.builtIn('instance/left', { plugin, id: c.peerId(id), cause: how.hung ? `unresponsive: ${cause.message}` : cause.message })
    },
    retire: (id) => on.retire(id),
    stateChanged(next, prev) {
      on.stateChanged(next, prev)
      const type = stateEntry(next, prev)
      // A live stop appends its own, with its cause (`stopLive`).
      if (type === 'plugin/stopped' && stoppingLive(c, plugin)) return
      if (type === 'plugin/stopped') void c.builtIn(type, { plugin, cause: shutdown.aborted ? 'shutdown' : 'policy' })
      else if (type) void c.builtIn(type, { plugin, error: lastError() })
    },
  }
}

/** The built-in entry a state change makes, if any (degraded and restarting show in the instances). */
function stateEntry(next: PluginState, prev: PluginState): BuiltInType | undefined {
  if (next === 'starting' && prev !== 'starting') return 'plugin/restarted'
  if (next === 'running' && prev === 'starting') return 'plugin/started'
  if (next === 'failed' || next === 'quarantined' || next === 'stopped') return `plugin/${next}`
  return undefined
}

/** A core plugin's life in the log: started once booted, failed, stopped at shutdown. */
export function coreEntry(c: Coordinator, h: PluginHandle, type: 'plugin/started' | 'plugin/failed' | 'plugin/stopped'): void {
  if (h.type !== 'core' || (type === 'plugin/stopped' && stoppingLive(c, h.name))) return
  if (type === 'plugin/failed') {
    c.dropCore(h.name)
    void c.builtIn(type, { plugin: h.name, error: h.status().lastError })
  } else void c.builtIn(type, type === 'plugin/stopped' ? { plugin: h.name, cause: 'shutdown' } : { plugin: h.name })
}

/** The plugins each coordinator's host is stopping live: their stop has a cause of its own. */
const live = new WeakMap<Coordinator, Set<string>>()
const stoppingLive = (c: Coordinator, plugin: string): boolean => live.get(c)?.has(plugin) ?? false

/**
 * A plugin stopped while the host runs (`plugins disable --now`): `close` runs with the plugin's
 * own stop entry held back (a worker plugin's state change would say `policy`), then exactly one
 * `plugin/stopped` with `cause` is appended, which drops its namespace in every replica. A plugin
 * the log never heard of (one that never loaded) gets none. Resolves once the entry is durable.
 */
export async function stopLive(c: Coordinator | undefined, plugin: string, cause: Extract<StopCause, 'disabled' | 'removed'>, close: () => Promise<void>): Promise<void> {
  if (!c) return close()
  const names = live.get(c) ?? live.set(c, new Set()).get(c)!
  names.add(plugin)
  try {
    await close()
  } finally {
    names.delete(plugin)
  }
  // Its handlers go first: a stopped core plugin applies and reacts no more, not even to its stop.
  c.dropCore(plugin)
  const r = c.log.replica
  if (r.plugins?.[plugin] || r.meta?.[plugin] !== undefined) await c.builtIn('plugin/stopped', { plugin, cause })
}

/** `ctx.coordination` where the host keeps no log (a plugin context built outside a supervisor). */
export function noCoordination(plugin: string): CoordinationApi {
  const none = () => Promise.reject(new OutriggerError('RIG_ERR_CLOSED', `plugin "${plugin}": this host keeps no coordination log`))
  return { replica: () => ({}), applied: () => 0, peer: { plugin, id: 0 }, append: none, on: () => () => undefined }
}

/** The status report with the log's head, and the seq each worker instance has applied. */
export function withLogFigures(report: StatusReport, c: Coordinator): StatusReport {
  for (const p of report.plugins) {
    if (p.type !== 'worker') continue
    for (const i of p.instances) {
      const applied = c.applied(p.name, i.id)
      if (applied !== undefined) i.appliedSeq = applied
    }
  }
  return { ...report, log: { head: c.log.head, committed: c.log.committed } }
}
