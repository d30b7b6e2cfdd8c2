// @ts-check
/**
 * audit — a worker plugin in a child process (see manifest.json), with at-least-once delivery:
 * an order the process had not finished writing when it died is delivered again, so the log may
 * hold an order twice but never miss one. Readers dedupe by `orderId`.
 *
 * It appends one JSON line per order to `audit.jsonl` in `ctx.dataDir`, its own folder under the
 * host's state folder.
 */
import { open } from 'node:fs/promises'
import path from 'node:path'

/** @typedef {import('../../../src/plugin/types.js').PluginContext} Ctx */
/** @typedef {{ id: number, item: string, qty: number, at: string }} Order */

/** `tail` reads at most this much from the end of the file, however long the log grows. */
const TAIL_BYTES = 64 * 1024

/** @type {import('node:fs/promises').FileHandle | undefined} */
let log

/** @param {Ctx} ctx */
const fileOf = (ctx) => path.join(ctx.dataDir, 'audit.jsonl')

/** @type {import('../../../src/plugin/types.js').PluginDefinition} */
export default {
  async init(ctx) {
    // One handle for the instance's life: an open per event would cost more than the write.
    log = await open(fileOf(ctx), 'a')
  },

  hooks: {
    /**
     * Resolves only once the line is handed to the OS: the supervisor counts the event as
     * processed (and stops redelivering it) when this returns.
     */
    async 'shop/orders:afterCreate'(payload) {
      const order = /** @type {Order} */ (payload.result.order)
      const line = { at: new Date().toISOString(), orderId: order.id, item: order.item, qty: order.qty, requestId: payload.request.requestId, pid: process.pid }
      await /** @type {import('node:fs/promises').FileHandle} */ (log).appendFile(JSON.stringify(line) + '\n')
    },
  },

  functions: {
    /** The last `n` audit lines (default 10, at most 100), oldest first. */
    async tail(/** @type {{ n?: number } | undefined} */ args, ctx) {
      const n = Math.min(100, Math.max(1, Number(args?.n) || 10))
      const fh = await open(fileOf(ctx), 'r')
      try {
        const { size } = await fh.stat()
        const len = Math.min(size, TAIL_BYTES)
        const { buffer } = await fh.read(Buffer.alloc(len), 0, len, size - len)
        const lines = buffer.toString('utf8').split('\n').filter(Boolean)
        // A read that starts mid-file starts mid-line: drop that fragment.
        if (len < size) lines.shift()
        return lines.slice(-n).map((l) => JSON.parse(l))
      } finally {
        await fh.close()
      }
    },
  },

  async close() {
    await log?.close()
    log = undefined
  },
}
