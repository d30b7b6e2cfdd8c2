/**
 * What a definition's `source` and `sinks` must look like, and the names both sides of the worker
 * boundary give a sink. Host-free, like definition.ts: the worker runtime imports it too.
 */
import type { PluginDefinition, SinkDef } from './types.js'

/** Default batch of a sink: up to 100 events, or what gathered within 50 ms. */
export const SINK_BATCH_DEFAULTS = { max: 100, maxWaitMs: 50 } as const
/** A batch larger than this would be one structured clone of unbounded size. */
export const SINK_BATCH_MAX = 10_000

/** A sink's batch settings with the defaults filled in. */
export interface SinkBatch {
  max: number
  maxWaitMs: number
}

/**
 * The subscription (and event name) a sink's batches travel under: it reads like the key a
 * plugin author wrote, and no event pattern looks like it, so it never clashes with a hook.
 */
export function sinkSubscription(pattern: string): string {
  return `sinks[${JSON.stringify(pattern)}]`
}

export function sinkBatch(sink: SinkDef): SinkBatch {
  return { max: sink.batch?.max ?? SINK_BATCH_DEFAULTS.max, maxWaitMs: sink.batch?.maxWaitMs ?? SINK_BATCH_DEFAULTS.maxWaitMs }
}

/** Every mistake in `source` and `sinks`; empty when both are fine (or absent). */
export function checkIo(d: Record<string, unknown>): string[] {
  const problems: string[] = []
  const source = d.source as Record<string, unknown> | undefined
  if (source !== undefined) {
    if (source === null || typeof source !== 'object') problems.push('"source" must be an object { start(ctx), stop?(ctx) }')
    else {
      if (typeof source.start !== 'function') problems.push('source.start must be a function (it reads from outside and calls ctx.emit until ctx.signal aborts)')
      if (source.stop !== undefined && typeof source.stop !== 'function') problems.push('source.stop must be a function when given')
    }
  }
  const sinks = d.sinks
  if (sinks === undefined) return problems
  if (sinks === null || typeof sinks !== 'object') return [...problems, `"sinks" must be an object { '<pattern>': { write(batch, ctx), batch: { max, maxWaitMs } } }`]
  for (const [pattern, sink] of Object.entries(sinks)) {
    const at = `sinks["${pattern}"]`
    if (sink === null || typeof sink !== 'object') {
      problems.push(`${at} must be an object { write(batch, ctx), batch: { max, maxWaitMs } }`)
      continue
    }
    const s = sink as Record<string, unknown>
    if (typeof s.write !== 'function') problems.push(`${at}.write must be a function (it receives each batch)`)
    const b = s.batch as Record<string, unknown> | undefined
    if (b === undefined) continue
    if (b === null || typeof b !== 'object') problems.push(`${at}.batch must be an object { max, maxWaitMs }`)
    else {
      if (b.max !== undefined && !(Number.isInteger(b.max) && (b.max as number) >= 1 && (b.max as number) <= SINK_BATCH_MAX)) problems.push(`${at}.batch.max must be an integer from 1 to ${SINK_BATCH_MAX} (found ${String(b.max)})`)
      if (b.maxWaitMs !== undefined && !(Number.isInteger(b.maxWaitMs) && (b.maxWaitMs as number) >= 0 && (b.maxWaitMs as number) <= 2 ** 31 - 1)) problems.push(`${at}.batch.maxWaitMs must be an integer number of ms from 0 to 2^31-1 (found ${String(b.maxWaitMs)})`)
    }
  }
  return problems
}

/** The sinks of a definition as the host needs to know them (they travel in the start handshake). */
export function sinkInfo(def: PluginDefinition): Array<{ pattern: string } & SinkBatch> {
  return Object.entries(def.sinks ?? {}).map(([pattern, s]) => ({ pattern, ...sinkBatch(s) }))
}

/** A sink's `write`, as the hook its batches run through (the batch is the payload). */
export function sinkHooks(def: PluginDefinition): Record<string, (batch: any, ctx: any) => unknown> {
  const out: Record<string, (batch: any, ctx: any) => unknown> = {}
  for (const [pattern, s] of Object.entries(def.sinks ?? {})) out[sinkSubscription(pattern)] = (batch, ctx) => s.write(batch, ctx)
  return out
}
