/**
 * Brings one worker instance's replica along with the log: a catch-up point first (a snapshot, or
 * the empty replica), then every durable entry after it, in order, one batch in flight at a time.
 * Only the built-in entries and the instance's own plugin's travel; the batch says how far the
 * instance stands (`upTo`), so it still knows the seq it has reached.
 */
import { isBuiltIn } from './builtin.js'
import { ownerOf } from './entry.js'
import type { Log } from './log.js'
import type { CoordBatch, CoordReply, Replica } from './types.js'

/** What the replicator needs of an instance: its side of the `coord` rpc. */
export interface ReplicaHolder {
  coordinate(batch: CoordBatch): Promise<CoordReply>
}

const BATCH = 512

export class Replicator {
  /** The seq the instance has applied up to; -1 until its catch-up point is known. */
  applied = -1
  private running: Promise<void> | undefined
  private again = false
  private stopped = false
  private reset: { seq: number; replica: Replica } | undefined
  private reactFrom = 0

  constructor(
    private readonly plugin: string,
    private readonly instance: ReplicaHolder,
    private readonly log: Log,
    private readonly snapshotEvery: number,
    private readonly onReply: (reply: CoordReply) => void,
  ) {}

  /**
   * Starts from a catch-up point (its seq and the instance's part of the replica there); the
   * instance reacts to entries from `reactFrom` on.
   */
  start(point: { seq: number; replica: Replica }, reactFrom: number): void {
    this.reset = point
    this.reactFrom = reactFrom
    this.applied = point.seq
    this.poke()
  }

  /** New entries are durable: send them (now, or after the batch in flight). */
  poke(): void {
    if (this.stopped || this.applied < 0) return
    if (this.running) {
      this.again = true
      return
    }
    this.running = this.pump().finally(() => {
      this.running = undefined
      if (this.again) {
        this.again = false
        this.poke()
      }
    })
  }

  stop(): void {
    this.stopped = true
  }

  /** The instance's replica, after what it has been sent so far. */
  async replica(): Promise<Replica | undefined> {
    await this.running
    if (this.stopped) return undefined
    const reply = await this.instance.coordinate({ entries: [], upTo: this.applied, snapshotEvery: this.snapshotEvery, wantReplica: true })
    return reply.replica
  }

  private async pump(): Promise<void> {
    try {
      while (!this.stopped && (this.reset || this.applied < this.log.committed)) {
        const all = await this.log.read(this.applied + 1, BATCH)
        const upTo = all.length ? all[all.length - 1].seq : this.applied
        const entries = all.filter((e) => isBuiltIn(e.type) || ownerOf(e.type) === this.plugin)
        const batch: CoordBatch = { entries, upTo, snapshotEvery: this.snapshotEvery, ...(this.reset ? { reset: this.reset, reactFrom: this.reactFrom } : {}) }
        this.reset = undefined
        const reply = await this.instance.coordinate(batch)
        if (this.stopped) return
        this.applied = reply.applied
        this.onReply(reply)
      }
    } catch {
      // The instance is gone (its exit is reported elsewhere): nothing more to send it.
      this.stopped = true
    }
  }
}
