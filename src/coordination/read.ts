/**
 * Reading the log for an operator (`outrigger log tail`, `GET /_log`): a page of entries from a
 * seq on, optionally of the types a glob matches, and where the next page starts.
 */
import { OutriggerError } from '../errors.js'
import type { Log } from './log.js'
import type { LogEntry } from './types.js'

/** At most this many entries are scanned for one page (a filter may keep fewer). */
export const MAX_PAGE = 1000

export interface LogPage {
  /** The last seq appended, and the last durable (what a page can hold). */
  head: number
  committed: number
  entries: LogEntry[]
  /** The seq the next page starts at. */
  next: number
}

/** `*` matches any run of characters (the `/` included): `tally/*`, `instance/*`, `*`. */
export function typeGlob(glob: string): (type: string) => boolean {
  const re = new RegExp(`^${glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)
  return (type) => re.test(type)
}

/**
 * A page from `from` (default: the last `limit` entries). `from` past the head gives an empty
 * page whose `next` is `from`, so a follower keeps asking from there.
 */
export async function readPage(log: Log, opts: { from?: number; limit?: number; type?: string }): Promise<LogPage> {
  const limit = opts.limit ?? 100
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new OutriggerError('RIG_ERR_COORD_ENTRY', `log read: limit must be an integer from 1 to ${MAX_PAGE}, got ${opts.limit}`)
  if (opts.from !== undefined && (!Number.isInteger(opts.from) || opts.from < 0)) throw new OutriggerError('RIG_ERR_COORD_ENTRY', `log read: from must be a seq (an integer from 0), got ${opts.from}`)
  const from = opts.from ?? Math.max(1, log.committed - limit + 1)
  const scanned = await log.read(from, limit)
  const match = opts.type ? typeGlob(opts.type) : undefined
  const entries = match ? scanned.filter((e) => match(e.type)) : scanned
  return { head: log.head, committed: log.committed, entries, next: scanned.length ? scanned[scanned.length - 1].seq + 1 : Math.max(from, 1) }
}
