/**
 * Trimming a cluster plugin's streams, so Redis keeps only what may still be needed: entries not
 * yet delivered, entries pending (delivered, not acked), and the approximate trim's slack.
 *
 * The safe point of a stream is the lowest, over every consumer group of the stream (ours and any
 * a user added), of the group's `last-delivered-id` and its oldest pending id. `XTRIM MINID ~ p`
 * removes only entries whose id is below `p`, so each of them is, for every group, at or below
 * what the group has delivered (so not waiting to be read) and below its oldest pending entry (so
 * acked). A stream without a group is not trimmed (its first reader would start from its start).
 *
 * Races: reading the groups and trimming happen in one Lua script, which Redis runs atomically;
 * no XADD, XREADGROUP, XCLAIM or XGROUP CREATE can fall between them. Even outside a script the
 * point would hold against what the cluster itself sends meanwhile: an XADD appends above every
 * id in the stream, an XREADGROUP delivers entries above `last-delivered-id` (so above the point),
 * XACK and XCLAIM only shrink or move the pending list. The script keeps it safe against a group
 * created or moved back (XGROUP SETID) by hand as well.
 *
 * One pass trims every stream of the plugin (the 16 partitions of a `partitionBy` plugin) and is
 * throttled cluster-wide through the plugin's trim record, so however many nodes run the plugin,
 * it is trimmed about once per `trimMs`. The record also keeps the totals `status --cluster` shows.
 */
import type { Redis } from 'ioredis'
import { errorMessage } from '../errors.js'
import type { RedisLink } from './connection.js'

/**
 * At most this many entries leave one stream per pass (XTRIM … LIMIT; Redis' own default for `~`
 * is 10,000): bounds how long one pass holds Redis. A pass that removed more than half of it
 * probably stopped at the cap, and the next round trims again without waiting for `trimMs`.
 */
export const TRIM_LIMIT = 100_000

// KEYS: the plugin's streams, then its trim record. ARGV: trimMs, TRIM_LIMIT, 1 to ignore the throttle.
// Ids are compared as decimal strings (length first), exactly: Lua numbers lose 64-bit sequences.
const SCRIPT = `
local record = KEYS[#KEYS]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local at = tonumber(redis.call('HGET', record, 'at') or '0')
if ARGV[3] ~= '1' and now - at < tonumber(ARGV[1]) then return {-1, 0} end
local function below(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  if am ~= bm then return #am < #bm or (#am == #bm and am < bm) end
  return #as < #bs or (#as == #bs and as < bs)
end
local removed, capped = 0, 0
for i = 1, #KEYS - 1 do
  local key = KEYS[i]
  if redis.call('TYPE', key)['ok'] == 'stream' then
    local point = nil
    for _, g in ipairs(redis.call('XINFO', 'GROUPS', key)) do
      local f = {}
      for j = 1, #g, 2 do f[g[j]] = g[j + 1] end
      local low = f['last-delivered-id']
      if tonumber(f['pending']) > 0 then
        local oldest = redis.call('XPENDING', key, f['name'])[2]
        if oldest and below(oldest, low) then low = oldest end
      end
      if point == nil or below(low, point) then point = low end
    end
    if point then
      local n = redis.call('XTRIM', key, 'MINID', '~', point, 'LIMIT', ARGV[2])
      removed = removed + n
      if n * 2 > tonumber(ARGV[2]) then capped = 1 end
    end
  end
end
redis.call('HSET', record, 'at', now, 'last', removed)
redis.call('HINCRBY', record, 'removed', removed)
redis.call('HINCRBY', record, 'passes', 1)
return {removed, capped}
`

/** One atomic pass over `streams`; `removed` is -1 when another node trimmed within `everyMs`. */
export async function trimStreams(r: Redis, streams: string[], record: string, everyMs: number, force = false): Promise<{ removed: number; capped: boolean }> {
  const [removed, capped] = (await r.eval(SCRIPT, streams.length + 1, ...streams, record, everyMs, TRIM_LIMIT, force ? 1 : 0)) as [number, number]
  return { removed, capped: capped === 1 }
}

/** What the trim record of a plugin says, for the status: totals over the whole cluster. */
export interface TrimRecord {
  /** Entries removed from the plugin's streams, in total. */
  trimmed: number
  /** Passes run, by any node. */
  passes: number
  /** Entries the last pass removed. */
  lastTrimmed: number
  /** When the last pass ran (Redis' clock, ms since the epoch); null before the first. */
  lastTrimAt: number | null
}

export async function trimRecord(r: Redis, record: string): Promise<TrimRecord> {
  const h = await r.hgetall(record)
  return { trimmed: Number(h.removed ?? 0), passes: Number(h.passes ?? 0), lastTrimmed: Number(h.last ?? 0), lastTrimAt: h.at ? Number(h.at) : null }
}

/**
 * A plugin's trimming on this node, run from the node's round (never from the beat, which must
 * stay quick): a pass at most every `everyMs`, sooner while a pass hit its cap. A failure (an ACL
 * without XTRIM or EVAL, say) is logged once until a pass succeeds again; it never stops the round.
 */
export class StreamTrimmer {
  private nextAt = 0
  private force = false
  private warned: string | null = null

  constructor(
    private readonly link: RedisLink,
    private readonly streams: string[],
    private readonly record: string,
    private readonly everyMs: number,
    private readonly warn: (err: unknown, message: string) => void,
  ) {}

  async tick(now = Date.now()): Promise<void> {
    if (now < this.nextAt || !this.link.up) return
    this.nextAt = now + this.everyMs
    try {
      const { capped } = await trimStreams(this.link.client, this.streams, this.record, this.everyMs, this.force)
      this.force = capped
      if (capped) this.nextAt = 0
      this.warned = null
    } catch (err) {
      const message = errorMessage(err)
      if (this.warned !== message && this.link.up) this.warn(err, message)
      this.warned = message
    }
  }
}
