import { deserialize, serialize } from 'node:v8'
import { OutriggerError, errorMessage } from '../errors.js'

/**
 * How a journal entry is stored: `v8.serialize([event, payload, meta])`, the same serializer a
 * process worker's IPC uses (`serialization: 'advanced'`) and the same algorithm as a thread's
 * `postMessage`. So the journal accepts exactly the payloads a worker can receive, refuses the
 * others at append (functions, symbols…), and hands back after a crash exactly what the worker
 * would have got before it: a Map stays a Map, a Date a Date, `undefined` stays `undefined`.
 * MessagePack (lmdb's default) is faster to encode but quietly turns a function into `undefined`
 * and an object with `toJSON` into its JSON, so a recovered event could differ from the one emitted.
 */
export type EncodedEntry = Buffer

export interface DecodedEntry {
  event: string
  payload: unknown
  meta: unknown
}

/** Encodes one entry; throws `RIG_ERR_NOT_CLONEABLE` (naming the event) when it cannot be cloned. */
export function encodeEntry(event: string, payload: unknown, meta?: unknown): EncodedEntry {
  try {
    return serialize(meta === undefined ? [event, payload] : [event, payload, meta])
  } catch (cause) {
    throw new OutriggerError('RIG_ERR_NOT_CLONEABLE', `event "${event}": its payload cannot be structured-cloned, so it cannot be journaled or sent to a worker (${errorMessage(cause)}); send plain data`, { cause, details: { event } })
  }
}

/** Decodes what `encodeEntry` wrote; throws on bytes that are not such an entry. */
export function decodeEntry(bytes: Uint8Array): DecodedEntry {
  const v = deserialize(bytes) as unknown
  if (!Array.isArray(v) || typeof v[0] !== 'string' || v.length < 2 || v.length > 3) throw new Error('not a journal entry')
  return { event: v[0], payload: v[1], meta: v[2] }
}
