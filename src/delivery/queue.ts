/** One event waiting for (or on its way to) a worker instance. */
export interface Pending {
  seq: number
  event: string
  subscription: string
  payload: unknown
  /** How many times it has been sent to an instance. */
  attempts: number
  /** The lane it belongs to: a partition's instance, or 0 when unpartitioned. */
  lane: number
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
 * A worker plugin's bounded queue, split into lanes: one shared lane when events may go to any
 * instance, one lane per instance when `partitionBy` pins keys to instances (so a dead instance's
 * keys wait for it, in order, instead of overtaking each other elsewhere).
 */
export class EventQueue {
  private readonly lanes: Deque<Pending>[]
  depth = 0

  constructor(lanes: number, readonly max: number) {
    this.lanes = Array.from({ length: lanes }, () => new Deque<Pending>())
  }

  /** Appends; when full, applies the overflow policy and returns the event that fell out. */
  push(p: Pending, overflow: 'drop-oldest' | 'drop-newest' | 'reject'): Pending | undefined {
    if (this.depth < this.max) {
      this.lanes[p.lane].push(p)
      this.depth++
      return undefined
    }
    if (overflow !== 'drop-oldest') return p
    const lane = this.lanes[p.lane].length ? this.lanes[p.lane] : this.longest()
    const dropped = lane.shift()
    this.lanes[p.lane].push(p)
    return dropped
  }

  /** Puts events back at the front of their lanes, first one first (redelivery keeps order). */
  requeue(events: Pending[]): void {
    for (let i = events.length - 1; i >= 0; i--) {
      this.lanes[events[i].lane].unshift(events[i])
      this.depth++
    }
  }

  /** Up to `n` events from a lane. */
  take(lane: number, n: number): Pending[] {
    const q = this.lanes[lane]
    const out: Pending[] = []
    while (out.length < n && q.length) out.push(q.shift()!)
    this.depth -= out.length
    return out
  }

  laneLength(lane: number): number {
    return this.lanes[lane].length
  }

  /** Empties the queue (shutdown: what is left goes to dead letters or is counted lost). */
  drainAll(): Pending[] {
    // Not push(...lane): a spread of a few hundred thousand arguments overflows the stack.
    return this.lanes.flatMap((_, l) => this.take(l, Infinity))
  }

  private longest(): Deque<Pending> {
    return this.lanes.reduce((a, b) => (b.length > a.length ? b : a))
  }
}
