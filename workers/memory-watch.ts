import type { MemoryFigures, WorkerToHost } from '../src/worker-protocol.js'

/** How often, in hook time, a thread reads its own memory between heartbeats. */
const MEMORY_CHECK_MS = 1
/** Past this many times `limits.memoryMb`, a thread runs no more hooks. */
const HALT_FACTOR = 1.25

/**
 * Heartbeats come a second apart by default, and in a second a thread that keeps 1 MB per event
 * can take gigabytes of the host's memory. So every MEMORY_CHECK_MS of hook time a thread reads
 * its own figures (v8.getHeapStatistics: about 2 µs) and tells the host at once when it is past
 * limits.memoryMb; the host then recycles it (no new batches; it finishes those it holds). If
 * finishing them takes it past HALT_FACTOR × the limit, it runs no more hooks and waits to be
 * ended, as V8 ends a thread whose heap outgrows its limit.
 */
export class MemoryWatch {
  /** When the batch loop reads the memory next (performance.now()); never until `start`. */
  due = Infinity
  /** Whether the host was told that this thread is past its memory limit. */
  private overLimit = false

  /** @param reading sees every reading (the heap snapshot near the limit watches them). */
  constructor(
    private readonly post: (msg: WorkerToHost) => void,
    private readonly memory: () => MemoryFigures,
    private readonly reading: (memory: MemoryFigures) => void = () => undefined,
  ) {}

  start(): void {
    this.due = 0
  }

  /** Reads the memory now; returns the wait of a thread that must run no more hooks. */
  check(now: number, limitMb: number): Promise<never> | undefined {
    this.due = now + MEMORY_CHECK_MS
    const memory = this.memory()
    this.reading(memory)
    if (memory.memoryMb <= limitMb) return
    const halted = memory.memoryMb > limitMb * HALT_FACTOR
    if (halted || !this.overLimit) this.post({ code: 'over-limit', memory, halted })
    this.overLimit = true
    if (!halted) return
    this.due = Infinity
    return new Promise<never>(() => {})
  }
}
