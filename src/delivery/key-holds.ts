import type { EventQueue, Pending } from './queue.js'

/**
 * A `partitionBy` key held back after one of its events failed (at-least-once): `head` is that
 * event, waiting for its retry or on its way; `parked` are the later events of the key, by seq,
 * released to the front of the queue once `head` has succeeded or left for good. When `head`
 * leaves for good while batches sent before the failure was known are still out (their events
 * of this key come back unrun), `until` is the last of them: the key is released once it is in.
 */
interface Hold {
  head: Pending
  parked: Pending[]
  until?: Pending[]
}

/** At-least-once with `partitionBy`: the keys whose later events wait behind a failed one. */
export class KeyHolds {
  private readonly holds = new Map<string, Hold>()
  /** Events parked behind a held key. */
  parkedCount = 0

  constructor(private readonly queue: EventQueue) {}

  get size(): number {
    return this.holds.size
  }

  /**
   * `p` failed and will be retried: true when it was parked behind an older failure of its key
   * (it waits there, not for a retry of its own); otherwise it is now its key's head.
   */
  parkOrHead(p: Pending): boolean {
    const hold = this.holds.get(p.key!)
    if (hold && hold.head !== p) {
      this.park(hold, p)
      return true
    }
    if (hold) hold.until = undefined
    else this.holds.set(p.key!, { head: p, parked: [] })
    return false
  }

  /** An event ran: if it was its key's held-back failure, the key's later events may go. */
  succeeded(p: Pending): void {
    const hold = this.holds.get(p.key!)
    if (hold?.head === p) this.release(p.key!, hold)
  }

  /**
   * `p` failed for good (failed or dead-lettered). Its key's later events may go, once the
   * batches sent before its failure was known, whose events of the key come back unrun, are in.
   * `last` is the last batch its target still holds.
   */
  settledForGood(p: Pending, last: Pending[] | undefined): void {
    const hold = this.holds.get(p.key!)
    if (hold && hold.head !== p) return // p itself waited behind an older failure of its key
    if (!last) {
      if (hold) this.release(p.key!, hold)
      return
    }
    if (hold) hold.until = last
    else this.holds.set(p.key!, { head: p, parked: [], until: last })
  }

  /**
   * The runtime did not run `events` (one batch's, in batch order): an earlier event of their
   * key had failed there. Called once the batch's failures have made their holds, so that events
   * held behind a failure of the same batch are parked behind it too: left in the queue, they
   * could sit further back than the head's retry batch reaches, and the key's later events,
   * parked meanwhile, would be released ahead of them. Those with no hold go back to the front,
   * in their order.
   */
  heldBack(events: Pending[]): void {
    const free: Pending[] = []
    for (const p of events) {
      p.attempts--
      const hold = this.holds.get(p.key!)
      if (hold) this.park(hold, p)
      else free.push(p)
    }
    this.queue.requeue(free)
  }

  private park(hold: Hold, p: Pending): void {
    const parked = hold.parked
    let i = parked.length
    while (i > 0 && parked[i - 1].seq > p.seq) i--
    parked.splice(i, 0, p)
    this.parkedCount++
  }

  /** Keeps the events of held keys back (parked by seq); the rest may be sent. */
  withoutHeld(batch: Pending[]): Pending[] {
    const free: Pending[] = []
    for (const p of batch) {
      const hold = this.holds.get(p.key!)
      if (hold && hold.head !== p) this.park(hold, p)
      else free.push(p)
    }
    return free
  }

  /** Holds waiting for `batch` to come back release their keys. */
  releaseAfter(batch: Pending[]): void {
    for (const [key, hold] of this.holds) if (hold.until === batch) this.release(key, hold)
  }

  /** Holds waiting for any of `batches` (of an instance that is gone) wait no more. */
  releaseWaitingOn(batches: Pending[][]): void {
    for (const [key, hold] of this.holds) if (hold.until && batches.includes(hold.until)) this.release(key, hold)
  }

  private release(key: string, hold: Hold): void {
    this.holds.delete(key)
    this.parkedCount -= hold.parked.length
    // Parked events are older than any event of the key still queued: they go first.
    this.queue.requeue(hold.parked)
  }

  /** Shutdown: every parked event, the holds gone. */
  drain(): Pending[] {
    const left: Pending[] = []
    for (const hold of this.holds.values()) for (const p of hold.parked) left.push(p)
    this.holds.clear()
    this.parkedCount = 0
    return left
  }
}
