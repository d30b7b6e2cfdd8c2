/**
 * Which partitions of a `partitionBy` cluster plugin this node serves. One node at a time holds a
 * partition, so the events of a key are handled in stream order cluster-wide.
 *
 * For now a partition is held through a Redis lease (`SET key node NX PX ttl`), renewed with the
 * node's beat; the `PartitionAssignment` interface is what the rest of the cluster code sees, so
 * the assignment can move to the coordination log without touching the readers.
 *
 * Fairness: a node takes free partitions up to its share (ceil(partitions / live nodes)); one
 * holding more than its share gives one up per beat, but only once the caller says that
 * partition has nothing in flight (a release with events still in flight here would let the next
 * holder overtake them).
 */
import type { Redis } from 'ioredis'

export interface PartitionAssignment {
  /** The partitions this node reads now. */
  owned(): ReadonlySet<number>
  /** Renews what this node holds (with every beat, apart from the slower rounds below). */
  renew(): Promise<void>
  /**
   * One round: give up above the share, take up to it. A gained partition is announced through
   * the constructor's `gained` callback the moment it is held, before `owned()` lists it to anyone
   * who could read it, so its leftovers are adopted before anything new is read.
   */
  tick(liveNodes: number, quiet: (p: number) => boolean): Promise<void>
  /** Gives every partition up (a clean stop, after the drain). */
  releaseAll(): Promise<void>
}

// Renew or release only a lease this node still holds.
const RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"

export class RedisLeases implements PartitionAssignment {
  private readonly held = new Set<number>()
  /** Partitions above the share, no longer read, given up once quiet. */
  private readonly leaving = new Set<number>()

  constructor(
    private readonly r: Redis,
    private readonly keyOf: (p: number) => string,
    private readonly node: string,
    private readonly partitions: number,
    private readonly ttlMs: number,
    private readonly gained: (p: number) => void,
  ) {}

  owned(): ReadonlySet<number> {
    return new Set([...this.held].filter((p) => !this.leaving.has(p)))
  }

  async renew(): Promise<void> {
    const held = [...this.held]
    const renewed = await Promise.all(held.map((p) => this.r.eval(RENEW, 1, this.keyOf(p), this.node, this.ttlMs) as Promise<number>))
    held.forEach((p, i) => {
      if (renewed[i] === 1) return
      this.held.delete(p)
      this.leaving.delete(p)
    })
  }

  async tick(liveNodes: number, quiet: (p: number) => boolean): Promise<void> {
    const share = Math.ceil(this.partitions / Math.max(1, liveNodes))
    for (const p of this.leaving) {
      if (!quiet(p)) continue
      await this.r.eval(RELEASE, 1, this.keyOf(p), this.node)
      this.leaving.delete(p)
      this.held.delete(p)
    }
    let mine = this.held.size - this.leaving.size
    if (mine > share && this.leaving.size === 0) {
      const p = Math.max(...[...this.held].filter((x) => !this.leaving.has(x)))
      this.leaving.add(p)
      mine--
    }
    for (let p = 0; p < this.partitions && mine < share; p++) {
      if (this.held.has(p)) continue
      if ((await this.r.set(this.keyOf(p), this.node, 'PX', this.ttlMs, 'NX')) === 'OK') {
        this.gained(p)
        this.held.add(p)
        mine++
      }
    }
  }

  async releaseAll(): Promise<void> {
    await Promise.all([...this.held].map((p) => this.r.eval(RELEASE, 1, this.keyOf(p), this.node)))
    this.held.clear()
    this.leaving.clear()
  }
}
