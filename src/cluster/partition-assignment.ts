/**
 * Which partitions of a `partitionBy` cluster plugin this node serves, decided in the cluster's
 * coordination log: `partition/claimed` and `partition/released` entries (cluster-builtin.ts).
 * One node at a time holds a partition, so the events of a key are handled in stream order
 * cluster-wide; every node sees the same owners at the same seq.
 *
 * Fairness: a node claims free partitions up to its share (ceil(partitions / live nodes)); one
 * holding more than its share gives one up per round, but only once the caller says that
 * partition has nothing in flight (a release with events still in flight here would let the next
 * holder overtake them). A partition held by a node that stopped beating is released for it by
 * the others, once they have been connected long enough to judge.
 */
import { holderOf } from '../coordination/cluster-builtin.js'
import type { Log } from '../coordination/log.js'

export interface PartitionAssignment {
  /** The partitions this node reads now. */
  owned(): ReadonlySet<number>
  /**
   * One round: give up above the share, release the partitions of nodes that are not in `live`
   * (when `judge`), claim free ones up to the share. A gained partition is announced through the
   * constructor's `gained` callback before `owned()` lists it, so its leftovers are adopted
   * before anything new is read.
   */
  tick(live: ReadonlySet<string>, judge: boolean, quiet: (p: number) => boolean): Promise<void>
  /** Gives every partition up (a clean stop, after the drain). */
  releaseAll(): Promise<void>
}

export class LogAssignment implements PartitionAssignment {
  private readonly held = new Set<number>()
  /** Partitions above the share, no longer read, released once quiet. */
  private readonly leaving = new Set<number>()

  constructor(
    private readonly log: Log,
    private readonly plugin: string,
    private readonly node: string,
    private readonly partitions: number,
    private readonly gained: (p: number) => void,
  ) {}

  owned(): ReadonlySet<number> {
    return new Set([...this.held].filter((p) => !this.leaving.has(p)))
  }

  async tick(live: ReadonlySet<string>, judge: boolean, quiet: (p: number) => boolean): Promise<void> {
    // The log took a partition away (the others judged this node silent): stop reading it.
    for (const p of this.held) {
      if (holderOf(this.log.replica, this.plugin, p) === this.node) continue
      this.held.delete(p)
      this.leaving.delete(p)
    }
    if (judge) {
      const silent = Object.entries(this.log.replica.cluster?.partitions[this.plugin] ?? {}).filter(([, n]) => n !== this.node && !live.has(n))
      await Promise.all(silent.map(([p, n]) => this.append('partition/released', Number(p), n)))
    }
    for (const p of this.leaving) {
      if (!quiet(p)) continue
      await this.append('partition/released', p, this.node)
      this.leaving.delete(p)
      this.held.delete(p)
    }
    const share = Math.ceil(this.partitions / Math.max(1, live.size))
    let mine = this.held.size - this.leaving.size
    if (mine > share && this.leaving.size === 0) {
      this.leaving.add(Math.max(...[...this.held].filter((x) => !this.leaving.has(x))))
      mine--
    }
    const free: number[] = []
    for (let p = 0; p < this.partitions && free.length < share - mine; p++) if (holderOf(this.log.replica, this.plugin, p) === undefined) free.push(p)
    // Claims race with other nodes' in the log: each reads who won from the replica.
    await Promise.all(free.map((p) => this.append('partition/claimed', p, this.node)))
    // Also what an earlier claim won whose answer was lost.
    for (let p = 0; p < this.partitions; p++) {
      if (holderOf(this.log.replica, this.plugin, p) !== this.node || this.held.has(p)) continue
      this.gained(p)
      this.held.add(p)
    }
  }

  async releaseAll(): Promise<void> {
    await Promise.all([...this.held].map((p) => this.append('partition/released', p, this.node)))
    this.held.clear()
    this.leaving.clear()
  }

  private append(type: 'partition/claimed' | 'partition/released', partition: number, node: string): Promise<unknown> {
    return this.log.append(type, { plugin: this.plugin, partition, node })
  }
}
