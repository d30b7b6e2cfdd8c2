/** The one place that maps an isolation setting to its adapter. */
import { processHost } from './process-host.js'
import { threadHost } from './thread-host.js'
import type { WorkerHost } from './worker-host.js'

export function hostFor(isolation: 'thread' | 'process'): WorkerHost {
  return isolation === 'thread' ? threadHost : processHost
}
