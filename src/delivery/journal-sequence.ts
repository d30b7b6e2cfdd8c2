import type { Database } from 'lmdb'

/**
 * Sequence numbers are reserved ahead in blocks: the store records a number no run has reached,
 * so a run that dies before committing its last appends still never sees those numbers reused by
 * the next one (an event may have reached a worker before its commit).
 */
const RESERVE = 1 << 20

/** The journal's sequence numbers and the block reserved ahead of them in the store (`next`). */
export class SequenceBlock {
  private nextSeq: number
  /** Numbers below this one may be handed out: the store holds it as `next`, committed. */
  private reservedTo: number
  /** The reservation the last batch asked for (committed with it). */
  private reserving: number

  /** `lastLeft`: the last sequence number an earlier run left in the records (0 if none). */
  constructor(private readonly info: Database<number, string>, lastLeft: number) {
    // The next number survives an empty journal too, so a number is never handed out twice.
    this.nextSeq = Math.max(info.get('next') ?? 1, lastLeft + 1)
    this.reservedTo = this.reserving = this.nextSeq + RESERVE
    info.putSync('next', this.reservedTo)
  }

  /** The number the next append gets. */
  get next(): number {
    return this.nextSeq
  }

  /** Hands out the next number. */
  take(): number {
    const seq = this.nextSeq++
    // Rare (once per RESERVE appends, when commits lag far behind): extend the reservation now.
    if (seq >= this.reservedTo) this.info.putSync('next', (this.reservedTo = this.reserving = seq + RESERVE))
    return seq
  }

  /**
   * Called while a batch's writes are issued: returns the reservation written with it (0 for none),
   * to be passed to `committed` once that batch is.
   */
  extend(): number {
    // Keep half a block of reserved numbers ahead of the appends, committed with them.
    const reserve = this.reserving - this.nextSeq < RESERVE / 2 ? (this.reserving = this.nextSeq + RESERVE) : 0
    if (reserve) void this.info.put('next', reserve)
    return reserve
  }

  committed(reserve: number): void {
    if (reserve > this.reservedTo) this.reservedTo = reserve
  }

  /** At close, once everything handed out is committed. */
  release(): void {
    // Everything handed out is committed: the next run may go on from here, without a gap.
    this.info.putSync('next', this.nextSeq)
  }
}
