import { deserialize, serialize } from 'node:v8'
import { OutriggerError, errorMessage } from '../errors.js'

/**
 * How the journal stores a group commit's appends: one record, `v8.serialize` of an array of
 * `[event, payload]` / `[event, payload, meta]` tuples (`undefined` where an entry was acked before
 * its commit, or refused). v8 serialization is what a process worker's IPC uses
 * (`serialization: 'advanced'`) and the algorithm behind a thread's `postMessage`, so the journal
 * refuses exactly the payloads a worker could not receive, and hands back after a crash exactly
 * what the worker would have got before it: a Map stays a Map, a Date a Date, `undefined` stays
 * `undefined`. MessagePack (lmdb's default) quietly turns a function into `undefined` and an object
 * with `toJSON` into its JSON. Most of v8's cost is setting up a serializer, once per call: one call
 * per group commit instead of one per entry is what makes it affordable (see bench/durable.ts).
 */
export type EntryTuple = [event: string, payload: unknown] | [event: string, payload: unknown, meta: unknown]

export interface DecodedEntry {
  event: string
  payload: unknown
  meta: unknown
}

export interface EncodedBatch {
  bytes: Buffer
  /** Entries that cannot be cloned, by index: left out of `bytes` (as `undefined`), each with its error and its meta. */
  refused: Array<[index: number, err: OutriggerError, meta: unknown]>
}

export const tuple = (event: string, payload: unknown, meta?: unknown): EntryTuple => (meta === undefined ? [event, payload] : [event, payload, meta])

/**
 * Encodes a batch (holes allowed). When the batch cannot be cloned, each entry is tried alone to
 * find the culprits, which are refused one by one; the others are kept. Mutates `entries`.
 */
export function encodeBatch(entries: Array<EntryTuple | undefined>): EncodedBatch {
  try {
    return { bytes: serialize(entries), refused: [] }
  } catch {
    const refused: EncodedBatch['refused'] = []
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]
      if (e === undefined) continue
      try {
        serialize(e)
      } catch (cause) {
        refused.push([i, notCloneable(e[0], cause), e[2]])
        entries[i] = undefined
      }
    }
    return { bytes: serialize(entries), refused }
  }
}

export function notCloneable(event: string, cause: unknown): OutriggerError {
  return new OutriggerError('RIG_ERR_NOT_CLONEABLE', `event "${event}": its payload cannot be structured-cloned, so it cannot be journaled or sent to a worker (${errorMessage(cause)}); send plain data`, { cause, details: { event } })
}

/** Decodes what `encodeBatch` wrote; `undefined` for holes. Throws on bytes that are not a batch. */
export function decodeBatch(bytes: Uint8Array): Array<DecodedEntry | undefined> {
  const v = deserialize(bytes) as unknown
  if (!Array.isArray(v)) throw new Error('not a journal record')
  return v.map((e: unknown) => {
    if (e === undefined || e === null) return undefined
    if (!Array.isArray(e) || typeof e[0] !== 'string' || e.length < 2 || e.length > 3) throw new Error('not a journal entry')
    return { event: e[0], payload: e[1], meta: e[2] }
  })
}
