import { getPriority, setPriority } from 'node:os'
import { isMainThread } from 'node:worker_threads'

/**
 * When workers take every core, the OS scheduler decides how long the host's event loop waits:
 * a worker at a higher nice value yields to it. Linux keeps nice values per thread, so a thread
 * instance lowers only itself; elsewhere the call would lower the whole host, so only child
 * processes do it there. Raising one's own nice value needs no privilege.
 */
export function lowerPriority(steps: number): void {
  if (!isMainThread && process.platform !== 'linux') return
  try {
    // Relative, like nice(1): the instance starts at the host's own value.
    setPriority(0, Math.min(19, getPriority(0) + steps))
  } catch {
    // Not permitted (a sandbox): the instance keeps the host's priority, which only costs latency.
  }
}
