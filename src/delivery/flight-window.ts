/**
 * How much one instance may hold unanswered: a window in events and in bytes that adapts.
 *
 * Why it adapts: a fixed depth of a few batches keeps an instance busy only while the host
 * answers each ack sooner than the instance runs the batches still ahead of it. On a loaded
 * machine the host's thread is sometimes off the CPU for milliseconds; the instance then runs
 * dry and waits, though events are queued. So the window grows (doubling) whenever an instance
 * says it waited for a batch while events were queued for it, and drifts back down (an eighth at
 * a time) after a long run of answers with no wait, so a burst does not leave it wide for good.
 *
 * Why bytes too: a window of 8,192 events is 1 MB of small events but gigabytes of large ones,
 * held in the instance's port queue outside any heap limit. The bytes an event takes on the wire
 * are estimated from a sample (one payload serialized now and then) and the window is cut to
 * what fits `maxBytes`. A single batch is always allowed, so a huge event still goes out.
 */
import { serialize } from 'node:v8'

export interface WindowCaps {
  /** The window never shrinks below this many events (by waits; bytes may cut it further). */
  minEvents: number
  /** Nor grows past this many. */
  maxEvents: number
  /** Batches unanswered at the start, and at least: small batches are cheap to hold. */
  minBatches: number
  /** Batches unanswered at most, whatever their size. */
  maxBatches: number
  /** Estimated wire bytes unanswered at most. */
  maxBytes: number
}

/** 4 batches of up to 256 to start with (the former fixed depth); up to 64 batches or 8,192 events. */
export const DEFAULT_CAPS: WindowCaps = { minEvents: 1024, maxEvents: 8192, minBatches: 4, maxBatches: 64, maxBytes: 16 * 1024 * 1024 }

/**
 * The caps for an instance held to `limits.memoryMb`. Past that limit an instance finishes what it
 * holds before it is recycled, within the headroom its own memory watch allows (a quarter of the
 * limit; workers/memory-watch.ts) before it is ended and its events redelivered. So the window
 * never holds more events than that headroom takes at 16 KB kept per event: 1,024 (the former
 * fixed depth) at 64 MB, the full 8,192 from 512 MB, the default.
 */
export function capsFor(memoryMb: number): WindowCaps {
  return { ...DEFAULT_CAPS, maxEvents: Math.max(DEFAULT_CAPS.minEvents, Math.min(DEFAULT_CAPS.maxEvents, memoryMb * 16)) }
}

/** Answers in a row without a wait before the window gives back an eighth. */
export const CALM_ANSWERS = 64
/** Batches between two samples of an event's wire size. */
export const SAMPLE_EVERY = 16

export class FlightWindow {
  /** The window in events, before the byte cap. */
  private events: number
  /** The window in batches. */
  private batches: number
  /** Estimated wire bytes per event; 0 until sampled. */
  private perEvent = 0
  private calm = 0
  private untilSample = 0

  constructor(readonly caps: WindowCaps = DEFAULT_CAPS) {
    this.events = caps.minEvents
    this.batches = caps.minBatches
  }

  /** Batches the instance may hold now. */
  get batchLimit(): number {
    return this.batches
  }

  /** Events the instance may hold now: the window, cut by the byte cap; at least 1. */
  get limit(): number {
    const byBytes = this.perEvent > 0 ? Math.floor(this.caps.maxBytes / this.perEvent) : Infinity
    return Math.max(1, Math.min(this.events, byBytes))
  }

  /** May another batch go to an instance that holds `events` events in `batches` batches? */
  hasRoom(events: number, batches: number): boolean {
    if (batches === 0) return true
    return batches < this.batches && events < this.limit
  }

  /**
   * An answer came back. `waited`: the instance had nothing to run when this batch reached it,
   * and `backlog`: events were queued for it all the same, so the window held them back.
   */
  answered(waited: boolean, backlog: boolean): void {
    if (waited && backlog) {
      this.events = Math.min(this.caps.maxEvents, this.events * 2)
      this.batches = Math.min(this.caps.maxBatches, this.batches * 2)
      this.calm = 0
      return
    }
    if (++this.calm < CALM_ANSWERS) return
    this.calm = 0
    this.events = Math.max(this.caps.minEvents, this.events - Math.max(1, this.events >> 3))
    this.batches = Math.max(this.caps.minBatches, this.batches - Math.max(1, this.batches >> 3))
  }

  /** Before a batch goes out: now and then, weighs one of its payloads on the wire. */
  weigh(payload: unknown): void {
    if (this.untilSample-- > 0) return
    this.untilSample = SAMPLE_EVERY - 1
    let bytes: number
    try {
      bytes = serialize(payload).length + 64 // + the event's name, subscription and framing
    } catch {
      return // an uncloneable payload: the send itself reports it
    }
    this.observe(bytes)
  }

  /** One measured event size; a moving average, so one odd event does not swing the window. */
  observe(bytes: number): void {
    this.perEvent = this.perEvent === 0 ? bytes : this.perEvent * 0.75 + bytes * 0.25
  }

  /** The current estimate of an event's wire size (0 before the first sample). */
  get bytesPerEvent(): number {
    return this.perEvent
  }
}
