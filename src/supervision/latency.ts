/**
 * Handler durations for p50/p99: the last 1,024 samples in a ring. Recording is one store; the
 * sort happens only when someone asks for the status report.
 */
export class Latency {
  private readonly samples = new Float64Array(1024)
  private n = 0
  /** Also told every sample (the /metrics histogram), once the HTTP API is up. */
  sink: ((ms: number) => void) | undefined

  record(ms: number): void {
    this.samples[this.n++ & 1023] = ms
    if (this.sink) this.sink(ms)
  }

  percentiles(): { p50: number; p99: number } {
    const count = Math.min(this.n, 1024)
    if (count === 0) return { p50: 0, p99: 0 }
    const sorted = this.samples.slice(0, count).sort()
    const at = (q: number) => round(sorted[Math.min(count - 1, Math.floor(q * count))])
    return { p50: at(0.5), p99: at(0.99) }
  }
}

export const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits
