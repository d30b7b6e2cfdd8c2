/** One event waiting for (or on its way to) a worker instance. */
export interface Pending {
  seq: number
  event: string
  subscription: string
  payload: unknown
  /** How many times it has been sent to an instance. */
  attempts: number
  /** Its partition: the instance id its key maps to, or 0 when unpartitioned. */
  partition: number
  /** Its `partitionBy` key's string form, when the dispatcher holds keys back after failures. */
  key?: string
  /**
   * It was in the batch an instance was running when it was killed for blocking its event loop:
   * it goes out alone, so that if it is the one that blocks, the next kill names it.
   */
  suspect?: boolean
  /** Its sequence number in the plugin's journal (durable delivery only). */
  journal?: number
}

/** A FIFO with O(1) push, shift and unshift (redeliveries go back to the front, keeping order). */
class Deque<T> {
  private items: (T | undefined)[] = new Array(16)
  private head = 0
  length = 0

  push(v: T): void {
    if (this.length === this.items.length) this.grow()
    this.items[(this.head + this.length++) & (this.items.length - 1)] = v
  }
  unshift(v: T): void {
    if (this.length === this.items.length) this.grow()
    this.head = (this.head - 1) & (this.items.length - 1)
    this.items[this.head] = v
    this.length++
  }
  peek(): T | undefined {
    return this.length === 0 ? undefined : this.items[this.head]
  }
  shift(): T | undefined {
    if (this.length === 0) return undefined
    const v = this.items[this.head]
    this.items[this.head] = undefined
    this.head = (this.head + 1) & (this.items.length - 1)
    this.length--
    return v
  }
  private grow(): void {
    const next = new Array<T | undefined>(this.items.length * 2)
    for (let i = 0; i < this.length; i++) next[i] = this.items[(this.head + i) & (this.items.length - 1)]
    this.items = next
    this.head = 0
  }
}

/**
 * A worker plugin's bounded queue, split into partitions: one shared partition when events may go
 * to any instance, one per instance when `partitionBy` pins keys to instances (so a dead
 * instance's keys wait for it, in order, instead of overtaking each other elsewhere).
 */
export class EventQueue {
  private readonly partitions: Deque<Pending>[]
  depth = 0

  constructor(partitions: number, readonly max: number) {
    this.partitions = Array.from({ length: partitions }, () => new Deque<Pending>())
  }

  /** Appends; when full, applies the overflow policy and returns the event that fell out. */
  push(p: Pending, overflow: 'drop-oldest' | 'drop-newest' | 'reject'): Pending | undefined {
    if (this.depth < this.max) {
      this.partitions[p.partition].push(p)
      this.depth++
      return undefined
    }
    if (overflow !== 'drop-oldest') return p
    const own = this.partitions[p.partition]
    const dropped = (own.length ? own : this.longest()).shift()
    own.push(p)
    return dropped
  }

  /** Puts events back at the front of their partitions, first one first (redelivery keeps order). */
  requeue(events: Pending[]): void {
    for (let i = events.length - 1; i >= 0; i--) {
      this.partitions[events[i].partition].unshift(events[i])
      this.depth++
    }
  }

  /** Up to `n` events from a partition, oldest first. */
  take(partition: number, n: number): Pending[] {
    const q = this.partitions[partition]
    const out: Pending[] = []
    while (out.length < n && q.length) out.push(q.shift()!)
    this.depth -= out.length
    return out
  }

  /** The oldest event of a partition, left in place. */
  peek(partition: number): Pending | undefined {
    return this.partitions[partition].peek()
  }

  length(partition: number): number {
    return this.partitions[partition].length
  }

  /** Empties the queue (shutdown: what is left goes to dead letters or is counted lost). */
  drainAll(): Pending[] {
    // Not push(...partition): a spread of a few hundred thousand arguments overflows the stack.
    return this.partitions.flatMap((_, i) => this.take(i, Infinity))
  }

  private longest(): Deque<Pending> {
    return this.partitions.reduce((a, b) => (b.length > a.length ? b : a))
  }
}
