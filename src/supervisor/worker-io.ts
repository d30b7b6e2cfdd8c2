/**
 * A worker plugin's sources and sinks, seen from the host: its queue's gauge for backpressure,
 * stopping its instances' sources before a drain, and its sinks.
 *
 * Sinks: events matching a sink's pattern are gathered into batches here (sink-batcher.ts); each
 * batch then enters the plugin's queue as one event under the sink's subscription
 * (`sinks["<pattern>"]`), so it is delivered, retried, dead-lettered or journaled under the
 * plugin's delivery guarantee like any event, and a failed write retries the whole batch. In the
 * worker, that subscription runs the sink's `write`.
 *
 * Under durable delivery the events gathering are journaled too, as they are accepted, and the
 * batch takes their place in the journal when it leaves; after a crash they are read back into
 * their sink and gathered again (durable-sink.ts, which argues the crash windows).
 */
import type { Bus } from '../bus/bus.js'
import type { WorkerInstance } from '../hosts/worker-host.js'
import type { SupervisorRuntime } from './plugin-handle.js'
import type { PluginStatus } from './status-types.js'
import type { DurableQueue } from '../delivery/durable-queue.js'
import type { JournalEntry } from '../delivery/journal.js'
import type { Pending } from '../delivery/queue.js'
import { SinkBatcher, type SinkCounters, type SinkOutcome } from '../delivery/sink-batcher.js'
import { SINK_BATCH_DEFAULTS, sinkSubscription } from '../plugin/io-shape.js'
import type { SinkItem } from '../plugin/types.js'
import type { StartInfo } from '../worker-protocol.js'

type Sinks = NonNullable<StartInfo['sinks']>

export class WorkerIo {
  /** By subscription (`sinks["<pattern>"]`). */
  private readonly batchers = new Map<string, SinkBatcher>()
  private declared: Sinks = []

  /**
   * @param enqueue puts a sink batch in the plugin's queue (or its journal, under durable delivery).
   * @param depth the plugin's queue depth, held against its high-water mark (backpressure.ts).
   * @param durable the plugin's durable queue, once its journal is open (durable delivery only):
   *   the events its sinks gather are journaled through it.
   */
  constructor(
    private readonly plugin: string,
    private readonly rt: SupervisorRuntime,
    max: number,
    private readonly enqueue: (subscription: string, batch: SinkItem[]) => void,
    depth: () => number,
    private readonly durable: () => DurableQueue | undefined = () => undefined,
  ) {
    rt.pressure.register(plugin, { depth, max })
  }

  /** Whether an instance's handshake declares the sinks already registered. */
  same(sinks: Sinks = []): boolean {
    return JSON.stringify(sinks) === JSON.stringify(this.declared)
  }

  /**
   * Puts the sinks an instance declared on the bus (the caller removed the plugin's earlier
   * subscriptions). A sink kept across a restart keeps its counters and what it gathered.
   */
  register(bus: Bus, sinks: Sinks = []): void {
    this.declared = sinks
    const journal = this.durable()?.gathered
    for (const s of sinks) {
      const sub = sinkSubscription(s.pattern)
      let b = this.batchers.get(sub)
      if (!b || b.max !== s.max || b.maxWaitMs !== s.maxWaitMs) {
        b?.close()
        const batcher = this.batcher(sub, s.pattern, s.max, s.maxWaitMs)
        if (b) Object.assign(batcher.counters, b.counters, { pending: 0 })
        this.batchers.set(sub, (b = batcher))
      }
      const batcher = b
      const deliver = journal ? (event: string, payload: unknown) => batcher.add(event, payload, journal.gather(sub, event, payload)) : (event: string, payload: unknown) => batcher.add(event, payload)
      bus.hooks.add({ plugin: this.plugin, pattern: s.pattern, deliver })
    }
    // What an earlier run left gathering, held until the sinks were known, is gathered again.
    journal?.attach({ regather: (sub, e) => this.regather(sub, e), refused: (sub, seq) => this.batchers.get(sub)?.remove(seq) })
  }

  private batcher(sub: string, pattern: string, max: number, maxWaitMs: number): SinkBatcher {
    return new SinkBatcher(pattern, max, maxWaitMs, (batch, seqs) => {
      const journal = this.durable()?.gathered
      if (journal) return journal.close(sub, batch, seqs)
      this.enqueue(sub, batch)
    })
  }

  /**
   * An event an earlier run left gathering, read back: to its sink, under its own sequence
   * number. A sink the plugin no longer declares gathers it all the same, with the default batch
   * settings: its batch goes to the queue, where no hook takes it, and ends a dead letter (kept,
   * replayable once the sink is back), as a batch of that sink read back would.
   */
  private regather(sub: string, e: JournalEntry): void {
    let b = this.batchers.get(sub)
    if (!b) {
      let pattern = sub
      try {
        pattern = JSON.parse(sub.slice('sinks['.length, -1)) as string
      } catch {}
      b = this.batcher(sub, pattern, SINK_BATCH_DEFAULTS.max, SINK_BATCH_DEFAULTS.maxWaitMs)
      this.batchers.set(sub, b)
    }
    b.add(e.event, e.payload, e.seq)
  }

  /** The dispatcher's word on an event: a sink batch's outcome goes to its counters; emitters waiting for room look again. */
  settled(p: Pending, outcome: SinkOutcome): void {
    if (this.batchers.size !== 0 && p.subscription.startsWith('sinks[')) this.batchers.get(p.subscription)?.settled(outcome, p.attempts)
    this.rt.pressure.eased()
  }

  /**
   * Before the queue drains: the instances' sources stop (nothing more is emitted while it
   * drains), then every sink hands on what it gathered, and its timer stops.
   */
  async beforeDrain(running: WorkerInstance[], deadline: number): Promise<void> {
    await Promise.all(running.map((i) => i.stopSource?.(Math.max(0, deadline - Date.now())).catch(() => undefined)))
    for (const b of this.batchers.values()) b.close()
  }

  /** A status row with the sinks' counters per pattern; as it was for a plugin without sinks. */
  withSinks(row: PluginStatus): PluginStatus {
    if (this.batchers.size === 0) return row
    const sinks: Record<string, SinkCounters> = Object.fromEntries([...this.batchers.values()].map((b) => [b.pattern, { ...b.counters }]))
    return { ...row, sinks }
  }
}

export function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}
