/**
 * The Redis Stream commands the cluster uses, typed once. `callBuffer` keeps entry bodies as
 * Buffers (ioredis' typed overloads for XREADGROUP and XCLAIM are too many to pick from cleanly).
 */
import type { Redis } from 'ioredis'
import { FIELD } from './codec.js'
import { GROUP } from './keys.js'

/** One stream entry: its id and its body (null when the entry was deleted meanwhile). */
export interface Entry {
  id: string
  body: Buffer | null
}

type RawEntries = Array<[Buffer, Buffer[] | null]>

function entries(raw: RawEntries | null | undefined): Entry[] {
  if (!raw) return []
  return raw.map(([id, fields]) => {
    let body: Buffer | null = null
    if (fields) for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i].toString() === FIELD) body = fields[i + 1]
    return { id: id.toString(), body }
  })
}

/** XGROUP CREATE … MKSTREAM, from the stream's start; an existing group is fine. */
export async function ensureGroup(r: Redis, stream: string): Promise<void> {
  try {
    await r.call('XGROUP', 'CREATE', stream, GROUP, '0', 'MKSTREAM')
  } catch (err) {
    if (!String((err as Error).message).includes('BUSYGROUP')) throw err
  }
}

/** XREADGROUP: `ids` per stream (">" for new entries, "0" for this consumer's own pending ones). */
export async function readGroup(r: Redis, consumer: string, streams: string[], ids: string[], count: number, blockMs: number | null): Promise<Map<string, Entry[]>> {
  const args: (string | number)[] = ['GROUP', GROUP, consumer, 'COUNT', count]
  if (blockMs !== null) args.push('BLOCK', blockMs)
  args.push('STREAMS', ...streams, ...ids)
  const raw = (await r.callBuffer('XREADGROUP', ...args)) as Array<[Buffer, RawEntries]> | null
  const out = new Map<string, Entry[]>()
  for (const [key, items] of raw ?? []) out.set(key.toString(), entries(items))
  return out
}

/** XPENDING's extended form: the pending entries of one consumer (or of all), oldest first. */
export async function pendingOf(r: Redis, stream: string, count: number, consumer?: string, start = '-'): Promise<Array<{ id: string; consumer: string; idleMs: number; deliveries: number }>> {
  const args: (string | number)[] = [stream, GROUP, start, '+', count]
  if (consumer) args.push(consumer)
  const raw = (await r.call('XPENDING', ...args)) as Array<[string, string, number, number]>
  return raw.map(([id, c, idleMs, deliveries]) => ({ id, consumer: c, idleMs, deliveries }))
}

/** XCLAIM: moves `ids` idle for at least `minIdleMs` to `consumer`; returns the entries it got. */
export async function claim(r: Redis, stream: string, consumer: string, minIdleMs: number, ids: string[]): Promise<Entry[]> {
  if (!ids.length) return []
  const raw = (await r.callBuffer('XCLAIM', stream, GROUP, consumer, minIdleMs, ...ids)) as RawEntries
  return entries(raw)
}

/** XINFO CONSUMERS as objects: name, pending, idle. */
export async function consumersOf(r: Redis, stream: string): Promise<Array<{ name: string; pending: number; idleMs: number }>> {
  try {
    const raw = (await r.call('XINFO', 'CONSUMERS', stream, GROUP)) as unknown[][]
    return raw.map((fields) => {
      const o = pairs(fields)
      return { name: String(o.name), pending: Number(o.pending), idleMs: Number(o.idle) }
    })
  } catch (err) {
    if (/NOGROUP|no such key/i.test(String((err as Error).message))) return []
    throw err
  }
}

/** XINFO GROUPS for our group: entries not yet delivered (lag), and pending. */
export async function groupOf(r: Redis, stream: string): Promise<{ length: number; lag: number; pending: number } | null> {
  try {
    const [length, groups] = await Promise.all([r.xlen(stream), r.call('XINFO', 'GROUPS', stream) as Promise<unknown[][]>])
    const g = groups.map(pairs).find((o) => o.name === GROUP)
    if (!g) return { length, lag: length, pending: 0 }
    // `lag` is null when Redis cannot tell (after deletions): then count from the length.
    const lag = g.lag === null || g.lag === undefined ? Math.max(0, length - Number(g['entries-read'] ?? 0)) : Number(g.lag)
    return { length, lag, pending: Number(g.pending) }
  } catch (err) {
    if (/no such key/i.test(String((err as Error).message))) return null
    throw err
  }
}

/**
 * Entries appended to a stream but no longer in it (XINFO STREAM's `entries-added` less its
 * length, Redis 7.0 and later; 0 before): for the dead-letter stream, the letters dropped beyond
 * its bound or deleted by hand.
 */
export async function droppedOf(r: Redis, stream: string): Promise<number> {
  try {
    const o = pairs((await r.call('XINFO', 'STREAM', stream)) as unknown[])
    return o['entries-added'] === undefined ? 0 : Math.max(0, Number(o['entries-added']) - Number(o.length))
  } catch (err) {
    if (/no such key/i.test(String((err as Error).message))) return 0
    throw err
  }
}

function pairs(fields: unknown[]): Record<string, unknown> {
  const o: Record<string, unknown> = {}
  for (let i = 0; i + 1 < fields.length; i += 2) o[String(fields[i])] = fields[i + 1]
  return o
}
