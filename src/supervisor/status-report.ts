import { droppedLines } from '../services/log-output.js'
import type { BrokenVersion } from '../manifest/discovery.js'
import { DropWatch, rollupHealth } from '../supervision/health.js'
import { VERSION } from '../version.js'
import type { EventLoopMonitor } from './event-loop.js'
import type { PluginHandle } from './plugin-handle.js'
import type { StatusReport, SupervisorState } from './status-types.js'

/** What the status report is assembled from. */
export interface StatusSources {
  app: string
  startedAt: number
  state: SupervisorState
  handles: readonly PluginHandle[]
  loop: EventLoopMonitor
  drops: DropWatch
  /** The broken `name@version` folders beside a plugin's running version. */
  brokenOf(name: string): BrokenVersion[]
}

/** The supervisor's status report: the host process, the roll-up of health, every plugin. */
export function statusReport(s: StatusSources): StatusReport {
  const plugins = s.handles.map((h) => ({ ...h.status(), shadowedBroken: s.brokenOf(h.name) }))
  const eventLoop = s.loop.snapshot()
  const mem = process.memoryUsage()
  return {
    app: s.app,
    version: VERSION,
    pid: process.pid,
    uptimeMs: Date.now() - s.startedAt,
    state: s.state,
    health: rollupHealth(plugins, eventLoop.p99Ms, s.drops.dropping(plugins), s.state === 'stopping'),
    eventLoop,
    memory: { rssMb: Math.round(mem.rss / 1048576), heapUsedMb: Math.round(mem.heapUsed / 1048576) },
    logs: { dropped: droppedLines() },
    plugins,
  }
}
