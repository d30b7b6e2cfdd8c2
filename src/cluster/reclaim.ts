/**
 * Taking over what a silent node left: entries pending on a consumer whose node has not beaten for
 * the plugin's `unresponsiveMs` are claimed (XCLAIM) by a live node and run there; they count as
 * `redelivered`. Only a node that has itself been connected for longer than that judges others:
 * right after a Redis outage every beat looks old.
 *
 * XCLAIM with a minimum idle time is the race guard: two nodes claiming the same entries, the
 * second finds them freshly claimed (idle below the minimum) and gets nothing.
 */
import type { Redis } from 'ioredis'
import { silentFor, type NodeRecord } from './node-registry.js'
import { claim, consumersOf, pendingOf, type Entry } from './stream-ops.js'
import { GROUP } from './keys.js'

export async function reclaimSilent(
  r: Redis,
  stream: string,
  me: string,
  nodes: ReadonlyMap<string, NodeRecord>,
  unresponsiveMs: number,
  limit: number,
): Promise<Entry[]> {
  const out: Entry[] = []
  for (const c of await consumersOf(r, stream)) {
    if (c.name === me || !silentFor(nodes.get(c.name), unresponsiveMs)) continue
    if (c.pending === 0) {
      // A consumer with nothing pending whose node is forgotten (or left) leaves the group's list.
      if (!nodes.has(c.name)) await r.call('XGROUP', 'DELCONSUMER', stream, GROUP, c.name)
      continue
    }
    if (out.length >= limit) break
    const ids = (await pendingOf(r, stream, limit - out.length, c.name)).map((p) => p.id)
    out.push(...(await claim(r, stream, me, Math.min(unresponsiveMs, 1000), ids)))
  }
  return out
}

/**
 * A partition this node just leased: whatever is pending on it (a previous holder's unfinished
 * entries, or this node's own from before a restart) is claimed, oldest first, to run before any
 * new entry, so a key's order survives the handover.
 */
export async function adoptPartition(r: Redis, stream: string, me: string, skip: (p: { id: string; consumer: string }) => boolean, minIdleMs = 0): Promise<Entry[]> {
  const out: Entry[] = []
  let start = '-'
  for (;;) {
    const page = await pendingOf(r, stream, 1000, undefined, start)
    if (!page.length) return out
    const ids = page.filter((p) => !skip(p)).map((p) => p.id)
    out.push(...(await claim(r, stream, me, minIdleMs, ids)))
    if (page.length < 1000) return out
    start = `(${page[page.length - 1].id}`
  }
}
