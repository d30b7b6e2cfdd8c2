/**
 * Backpressure for whoever emits (a source, most often): `ctx.emit` answers false once a worker
 * plugin the event goes to holds more than its high-water mark in its queue, and `ctx.drained()`
 * waits until every worker plugin that emitter fed is below its low-water mark again.
 *
 * The marks are fractions of the plugin's `queue.max`. Between them lies hysteresis: a source that
 * waits for `drained` then emits a good stretch before it is told to wait again, instead of
 * flapping at one depth. A source that ignores the answer is still bounded by the overflow
 * policy of the queues it feeds.
 */
import type { Matcher } from '../bus/matcher.js'
import type { HookTarget } from '../bus/bus.js'

/** Above this share of `queue.max`, `ctx.emit` answers false. */
export const HIGH_WATER = 0.8
/** `ctx.drained()` resolves once every plugin fed is at or below this share of `queue.max`. */
export const LOW_WATER = 0.5

/** How full a worker plugin's queue is. */
export interface QueueGauge {
  /** Events received and not yet sent to an instance. */
  depth(): number
  readonly max: number
}

interface Marked extends QueueGauge {
  high: number
  low: number
}

export class Backpressure {
  private readonly gauges = new Map<string, Marked>()
  /** The gauges an event goes to, per matched subscription list (the matcher caches one per event name). */
  private targetsOf = new WeakMap<readonly HookTarget[], Marked[]>()
  private readonly waiters = new Set<{ fed: Set<Marked>; resolve: () => void }>()
  private checkQueued = false

  constructor(private readonly hooks: Matcher<HookTarget>, private readonly signal: AbortSignal) {
    signal.addEventListener('abort', () => this.releaseAll(), { once: true })
  }

  /** A worker plugin's queue, under its name (a reloaded plugin replaces its gauge). */
  register(plugin: string, gauge: QueueGauge): void {
    this.gauges.set(plugin, Object.assign(Object.create(gauge), { high: Math.max(1, Math.ceil(gauge.max * HIGH_WATER)), low: Math.floor(gauge.max * LOW_WATER) }))
    this.targetsOf = new WeakMap()
  }

  /** A plugin's queue shrank: emitters waiting for it look again (once per tick, however many calls). */
  eased(): void {
    if (this.waiters.size === 0 || this.checkQueued) return
    this.checkQueued = true
    queueMicrotask(() => {
      this.checkQueued = false
      for (const w of this.waiters) if (allLow(w.fed)) this.release(w)
    })
  }

  /** One emitter's view: what it fed, and whether any of it is full. */
  feeder(): Feeder {
    return new Feeder(this)
  }

  /** @internal The gauges of the worker plugins `event` goes to. */
  targets(event: string): Marked[] {
    const subs = this.hooks.match(event)
    let t = this.targetsOf.get(subs)
    if (!t) {
      t = [...new Set(subs.map((s) => this.gauges.get(s.plugin)).filter((g): g is Marked => g !== undefined))]
      this.targetsOf.set(subs, t)
    }
    return t
  }

  /** @internal */
  wait(fed: Set<Marked>): Promise<void> {
    if (allLow(fed) || this.signal.aborted) return Promise.resolve()
    return new Promise((resolve) => this.waiters.add({ fed, resolve }))
  }

  private release(w: { resolve: () => void }): void {
    this.waiters.delete(w as never)
    w.resolve()
  }

  private releaseAll(): void {
    for (const w of [...this.waiters]) this.release(w)
  }
}

export class Feeder {
  private fed = new Set<Marked>()

  constructor(private readonly bp: Backpressure) {}

  /** Call after emitting `event`: false when a worker plugin it goes to is above its high-water mark. */
  emitted(event: string): boolean {
    const targets = this.bp.targets(event)
    let ok = true
    for (let i = 0; i < targets.length; i++) {
      const g = targets[i]
      this.fed.add(g)
      if (g.depth() > g.high) ok = false
    }
    return ok
  }

  /**
   * How many more events fit below the high-water mark of the fullest plugin fed since the last
   * `drained` (a worker's `ctx.emit` spends it while its batches are on their way).
   */
  room(): number {
    return roomIn(this.fed)
  }

  /** Resolves, with the room then, once every plugin fed since the last `drained` is at or below its low-water mark. */
  async drained(): Promise<number> {
    const fed = this.fed
    this.fed = new Set()
    await this.bp.wait(fed)
    return roomIn(fed)
  }
}

/** No worker plugin fed: no limit but the overflow policy's. */
const UNBOUNDED = Number.MAX_SAFE_INTEGER

function roomIn(fed: Set<Marked>): number {
  let room = UNBOUNDED
  for (const g of fed) room = Math.min(room, Math.max(0, g.high - g.depth()))
  return room
}

function allLow(fed: Set<Marked>): boolean {
  for (const g of fed) if (g.depth() > g.low) return false
  return true
}
