/**
 * The coordination log of a cluster, as Redis keeps it: the stream `outrigger:<cluster>:log`,
 * whose entry ids are `<seq>-0`, and its head seq beside it. Appends are conditional on the head
 * (one Lua script, so atomic): a node appends only on top of the log it has applied, which makes
 * one total order out of many writers and lets each check an entry against the replica it will
 * actually follow.
 */
import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { LogEntry } from '../coordination/types.js'
import type { ClusterKeys } from './keys.js'

const FIELD = 'e'

// KEYS: stream, head. ARGV: the head the entries follow, then one JSON body per entry.
// Answers the new head, or minus (the current head + 1) when the log moved on meanwhile.
const APPEND = `
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
if head ~= tonumber(ARGV[1]) then return -head - 1 end
for i = 2, #ARGV do
  head = head + 1
  redis.call('XADD', KEYS[1], head .. '-0', '${FIELD}', ARGV[i])
end
redis.call('SET', KEYS[2], head)
return head`

// KEYS: ordinals hash, counter. ARGV: node id. A node keeps its ordinal for as long as its id.
const ORDINAL = `
local o = redis.call('HGET', KEYS[1], ARGV[1])
if o then return tonumber(o) end
o = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], o)
return o`

export type Appended = { ok: true; head: number } | { ok: false; head: number }

export class LogStream {
  constructor(private readonly r: Redis, private readonly keys: ClusterKeys) {}

  /**
   * The log's epoch: made once with the log. A local copy made under another epoch belongs to a
   * log that is gone (Redis was emptied) and must not be mixed with this one.
   */
  async epoch(): Promise<string> {
    await this.r.set(this.keys.logEpoch, randomUUID(), 'NX')
    return (await this.r.get(this.keys.logEpoch))!
  }

  async head(): Promise<number> {
    return Number((await this.r.get(this.keys.logHead)) ?? 0)
  }

  /** Appends `entries` (seqs head+1…) if the log's head is still `head`; `by` names the proposal. */
  async append(head: number, entries: Array<LogEntry & { by: string }>): Promise<Appended> {
    const bodies = entries.map((e) => JSON.stringify({ type: e.type, args: e.args, at: e.at, by: e.by }))
    const n = (await this.r.eval(APPEND, 2, this.keys.log, this.keys.logHead, head, ...bodies)) as number
    return n >= 0 ? { ok: true, head: n } : { ok: false, head: -n - 1 }
  }

  /** Up to `count` entries from seq `from` on. */
  async range(from: number, count: number): Promise<Stored[]> {
    return parse((await this.r.xrange(this.keys.log, `${Math.max(1, from)}-0`, '+', 'COUNT', count)) as Raw)
  }

  /** Entries after seq `last`, waiting up to `blockMs` for some (on a client of its own: it blocks). */
  async after(blocking: Redis, last: number, blockMs: number, count: number): Promise<Stored[]> {
    const raw = (await blocking.xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', this.keys.log, `${last}-0`)) as Array<[string, Raw]> | null
    return raw ? parse(raw[0][1]) : []
  }

  /** This node's ordinal in the cluster, from 1. */
  async ordinal(node: string): Promise<number> {
    return (await this.r.eval(ORDINAL, 2, this.keys.ordinals, this.keys.ordinal, node)) as number
  }
}

/** An entry as the stream holds it: with the id of the proposal that wrote it. */
export type Stored = LogEntry & { by?: string }

type Raw = Array<[string, string[]]>

function parse(raw: Raw): Stored[] {
  return raw.map(([id, fields]) => {
    const body = JSON.parse(fields[fields.indexOf(FIELD) + 1]) as Omit<Stored, 'seq'>
    return { seq: Number(id.slice(0, id.indexOf('-'))), type: body.type, args: body.args, at: body.at, by: body.by }
  })
}
