import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks'
import { round } from '../supervision/latency.js'

const RESOLUTION_MS = 10

/**
 * The host's own event-loop health: delay percentiles over a sliding window (the histogram is
 * reset every window so an old stall does not haunt the report forever) and utilization.
 */
export class EventLoopMonitor {
  private readonly h = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  private last = { p50Ms: 0, p99Ms: 0, maxMs: 0 }
  private elu: EventLoopUtilization = performance.eventLoopUtilization()
  private utilization = 0
  private readonly timer: NodeJS.Timeout

  constructor(windowMs = 5000) {
    this.h.enable()
    this.timer = setInterval(() => this.roll(), windowMs)
    this.timer.unref()
  }

  private roll(): void {
    this.last = this.read()
    this.h.reset()
    const now = performance.eventLoopUtilization()
    this.utilization = performance.eventLoopUtilization(now, this.elu).utilization
    this.elu = now
  }

  private read() {
    if (this.h.count === 0) return { p50Ms: 0, p99Ms: 0, maxMs: 0 }
    // The histogram times the whole sampling interval; the delay is what exceeds it.
    const ms = (ns: number) => round(Math.max(0, ns / 1e6 - RESOLUTION_MS))
    return { p50Ms: ms(this.h.percentile(50)), p99Ms: ms(this.h.percentile(99)), maxMs: ms(this.h.max) }
  }

  /** The worse of the current and the last full window. */
  snapshot(): { p50Ms: number; p99Ms: number; maxMs: number; utilization: number } {
    const cur = this.read()
    const pick = cur.p99Ms >= this.last.p99Ms ? cur : this.last
    return { ...pick, utilization: round(this.utilization) }
  }

  close(): void {
    clearInterval(this.timer)
    this.h.disable()
  }
}
