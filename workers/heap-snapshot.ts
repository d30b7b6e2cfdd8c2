import { mkdirSync } from 'node:fs'
import { writeHeapSnapshot } from 'node:v8'
import { diagnosticFile } from '../src/diagnostics/diagnostic-files.js'
import type { MemoryFigures, WorkerSpec, WorkerToHost } from '../src/worker-protocol.js'

/** The share of `limits.memoryMb` at which the snapshot is written. */
export const NEAR_LIMIT = 0.9

/**
 * `limits.heapSnapshot`: the first memory reading past 90 % of `limits.memoryMb` writes one heap
 * snapshot, before the host recycles the instance at 100 %, so what filled the heap is on disk
 * when the instance is gone. At most one per instance start: a second would show the same, and
 * each costs a pause as long as the heap is big. The instance writes it itself (the snapshot is
 * of its own heap), synchronously; it tells the host first, because it answers no heartbeat
 * until it is done.
 */
export class HeapSnapshotWatch {
  private taken = false

  constructor(private readonly spec: WorkerSpec, private readonly post: (msg: WorkerToHost) => void) {}

  /** Called with every memory reading the runtime makes (heartbeats; a thread's checks between them). */
  check(memory: MemoryFigures): void {
    const { limits, heapSnapshotDir } = this.spec
    if (this.taken || !limits.heapSnapshot || !heapSnapshotDir || memory.memoryMb < NEAR_LIMIT * limits.memoryMb) return
    this.taken = true
    const file = diagnosticFile(heapSnapshotDir, this.spec.plugin, this.spec.instanceId, '.heapsnapshot')
    this.post({ code: 'heap-snapshot', phase: 'writing', file, memory })
    try {
      mkdirSync(heapSnapshotDir, { recursive: true })
      writeHeapSnapshot(file)
      this.post({ code: 'heap-snapshot', phase: 'written', file, memory })
    } catch (err) {
      this.post({ code: 'heap-snapshot', phase: 'failed', file, memory, error: (err as Error).message })
    }
  }
}
