/** One group commit's record: entries `start … start + length - 1`, removed when all are acked. */
export interface Segment {
  start: number
  length: number
  /** Entries neither acked nor holes. */
  live: number
  /** 1 where acked (or a hole). */
  acked: Uint8Array
  dead: boolean
}

/**
 * The journal's records still on disk, as segments: which entries of each are acked. Live segments
 * (and a few dead ones, compacted now and then), ordered by `start`.
 */
export class SegmentTable {
  private segments: Segment[] = []
  private deadSegments = 0

  /** The live segment holding `seq`: a binary search over the segments, ordered by start. */
  of(seq: number): Segment | undefined {
    const segs = this.segments
    let lo = 0
    let hi = segs.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (segs[mid].start <= seq) lo = mid + 1
      else hi = mid - 1
    }
    const seg = segs[hi]
    return seg && !seg.dead && seq < seg.start + seg.length ? seg : undefined
  }

  /** A record of this run: it starts above every segment so far. */
  push(seg: Segment): void {
    this.segments.push(seg)
  }

  /** A recovered record. */
  insert(seg: Segment): void {
    // Recovered records start below every record of this run: insert in order.
    let at = this.segments.length
    while (at > 0 && this.segments[at - 1].start > seg.start) at--
    this.segments.splice(at, 0, seg)
  }

  drop(seg: Segment): void {
    seg.dead = true
    if (++this.deadSegments > 64 && this.deadSegments * 2 > this.segments.length) {
      this.segments = this.segments.filter((s) => !s.dead)
      this.deadSegments = 0
    }
  }
}
