import type { EventResult, ExitInfo, WireEvent, WorkerInstance } from '../../src/hosts/worker-host.js'

/**
 * A worker instance with no thread or process behind it, for driving the dispatcher: each
 * subclass decides how a batch is answered; everything else is inert.
 */
export abstract class FakeInstanceBase<S extends { batch: WireEvent[] }> implements WorkerInstance {
  readonly pid = 1
  readonly threadId = 0
  readonly info = { hooks: [], functions: [] }
  readonly exited = new Promise<ExitInfo>(() => {})
  /** The batches handed in, in send order, each with how the test answers it. */
  readonly sent: S[] = []
  constructor(readonly id: number) {}

  abstract run(batch: WireEvent[], seen?: number): Promise<EventResult[]>
  ping(): never { throw new Error('not used') }
  onOverLimit(): void {}
  onHeapSnapshot(): void {}
  profile(): never { throw new Error('not used') }
  call(): never { throw new Error('not used') }
  ready(): never { throw new Error('not used') }
  async stop(): Promise<void> {}
  async kill(): Promise<void> {}

  /** Every payload sent so far, in send order. */
  payloads(): unknown[] {
    return this.sent.flatMap((s) => s.batch.map((e) => e.payload))
  }
}
