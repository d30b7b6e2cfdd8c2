// @ts-check
/**
 * partition-reader — instances of one worker plugin share the partitions of a source, and divide
 * them through the coordination log (docs/coordination.md walks through it).
 *
 * - Each instance reacts to `instance/joined` and `instance/left` of its own plugin by proposing
 *   the same `partition-reader/assign` entry: the partitions dealt round-robin over the live
 *   instance ids. Every instance computes the same one (reactions are pure), and the supervisor
 *   appends it once.
 * - Every instance applies it into `replica.meta['partition-reader']`, and its read loop reads
 *   only the partitions its own id holds there.
 * - A reaction can land late: an instance that was slow to see an entry proposes its answer after
 *   newer entries. So `apply` checks that a deal still fits the live instances where it lands in
 *   the log, and ignores a stale one. Being a function of the replica, that check gives the same
 *   answer in every instance.
 * - The offset of each partition is a checkpoint in `ctx.state`, written after each record is
 *   handled: at least once. When a partition changes hands, its new owner starts at the
 *   checkpoint, so a record is read twice at most when its old owner had handled it and not yet
 *   checkpointed it.
 *
 * The source is synthetic (record `o` of partition `p` is `"p:o"`), so the demo needs no files;
 * a real reader would open partition `p` of a topic, a file or a table instead.
 * Each record handled is appended as one JSON line to `options.out` (default: `read.ndjson` in
 * `ctx.dataDir`), with the instance that read it.
 */
import { appendFileSync } from 'node:fs'
import path from 'node:path'
import { threadId } from 'node:worker_threads'

const NAME = 'partition-reader'
const ASSIGN = `${NAME}/assign`

/** @typedef {import('../../../src/coordination/types.js').Replica} Replica */
/** @typedef {{ partitions: number, intervalMs: number, out?: string }} Options */

/**
 * The assignment for the live instances of a replica: partitions dealt round-robin over the
 * sorted instance ids. Pure: every instance computes the same one from the same replica.
 * @param {Replica} replica
 * @param {number} partitions
 */
function deal(replica, partitions) {
  const ids = liveIds(replica)
  /** @type {Record<string, number[]>} */
  const owners = {}
  for (const id of ids) owners[id] = []
  if (ids.length) for (let p = 0; p < partitions; p++) owners[ids[p % ids.length]].push(p)
  return owners
}

/** @param {Replica} replica */
const liveIds = (replica) => Object.values(replica.plugins?.[NAME]?.instances ?? {}).map((i) => i.id).sort((a, b) => a - b)

/**
 * @param {Replica} replica
 * @returns {{ owners: Record<string, number[]>, epoch: number }}
 */
const assignment = (replica) => /** @type {any} */ (replica.meta?.[NAME]) ?? { owners: {}, epoch: 0 }

/** @param {import('../../../src/plugin/types.js').PluginContext<Options>} ctx */
export default (ctx) => {
  const partitions = Number(ctx.options?.partitions ?? 12)
  const intervalMs = Number(ctx.options?.intervalMs ?? 20)

  /** Reactions to an instance joining or leaving: propose the new deal if it differs. */
  const rebalance = (/** @type {{ plugin: string }} */ args, /** @type {Replica} */ _old, /** @type {Replica} */ next) => {
    if (args.plugin !== NAME) return []
    const owners = deal(next, partitions)
    if (JSON.stringify(owners) === JSON.stringify(assignment(next).owners)) return []
    return [{ type: ASSIGN, args: { owners } }]
  }

  /** The partitions this instance holds in its own replica, now. */
  const mine = () => assignment(ctx.coordination.replica()).owners[ctx.coordination.peer.id] ?? []

  async function readLoop() {
    const out = ctx.options?.out ?? path.join(ctx.dataDir, 'read.ndjson')
    const reader = threadId ? `${process.pid}:${threadId}` : String(process.pid)
    while (!ctx.signal.aborted) {
      for (const p of mine()) {
        const key = `offset:${p}`
        const offset = /** @type {number | undefined} */ (await ctx.state.getState(key)) ?? 0
        // The deal may have changed while the checkpoint was read: hand the partition over now.
        if (!mine().includes(p)) continue
        const record = `${p}:${offset}`
        appendFileSync(out, JSON.stringify({ p, offset, record, id: ctx.coordination.peer.id, reader, seq: ctx.coordination.applied(), at: Date.now() }) + '\n')
        await ctx.state.putState(key, offset + 1)
      }
      await new Promise((r) => setTimeout(r, intervalMs))
    }
  }

  return {
    coordination: {
      [ASSIGN]: {
        apply: (/** @type {{ owners: Record<string, number[]> }} */ a, /** @type {Replica} */ r) => {
          // Stale (dealt for another set of instances than the live one here): ignored.
          const fits = JSON.stringify(Object.keys(a.owners).map(Number).sort((x, y) => x - y)) === JSON.stringify(liveIds(r))
          return fits ? { owners: a.owners, epoch: assignment(r).epoch + 1 } : assignment(r)
        },
      },
      'instance/joined': { reactions: rebalance },
      'instance/left': { reactions: rebalance },
    },
    whenReady() {
      // Not awaited: the loop runs for the instance's life and ends with ctx.signal.
      void readLoop().catch((err) => ctx.log.error({ err }, 'partition read loop stopped'))
    },
    functions: {
      /** The partitions this instance reads now, and the seq its replica stands at. */
      assigned: () => ({ id: ctx.coordination.peer.id, partitions: mine(), seq: ctx.coordination.applied() }),
    },
  }
}
