// @ts-check
/**
 * analytics — a worker plugin in two threads (see manifest.json). Every order costs it a few
 * milliseconds of real CPU: the kind of listener that, run in the host's event loop, would delay
 * every HTTP request behind it. Here the supervisor only enqueues the event and returns; the two
 * instances share the work, and none of it runs on the host's event loop (`GET /_status`).
 *
 * Results are counted in `ctx.state`, which the supervisor keeps: both instances add to the same
 * counters, and a restarted instance starts from them. Every `ctx.state` call is a round trip
 * that the host answers on its own event loop, so the counts are summed here and flushed a few
 * times a second rather than written per event: at hundreds of orders a second, three counter
 * writes per order would put back on the host much of the work this plugin keeps off it. An
 * instance that crashes loses at most its last 100 ms of counts, which at-most-once delivery
 * (the default, kept here) already allows for the events themselves.
 */
import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { z } from 'zod'

/**
 * The operator's options (`plugins.analytics.options` in outrigger.config.json). The worker
 * applies this schema before init, defaults included, and refuses a bad value naming the field.
 */
const options = z.object({
  /** Milliseconds of CPU each order costs. */
  costMs: z.number().nonnegative().default(3),
}).strict()

/** @typedef {z.infer<typeof options>} AnalyticsOptions */
/** @typedef {import('../../../src/plugin/types.js').PluginContext<AnalyticsOptions>} Ctx */
/** @typedef {{ id: number, item: string, qty: number, at: string }} Order */

/**
 * A stand-in for a real model: chains SHA-256 over the order for `costMs` of CPU, then flags the
 * order when the final digest starts with a small byte (about 3 % of orders). Busy on purpose.
 *
 * @param {Order} order
 * @param {number} costMs
 */
function riskScore(order, costMs) {
  const end = performance.now() + costMs
  let digest = createHash('sha256').update(JSON.stringify(order)).digest()
  do {
    for (let i = 0; i < 64; i++) digest = createHash('sha256').update(digest).digest()
  } while (performance.now() < end)
  return digest[0]
}

/** How often the summed counts go to `ctx.state`; `report` may lag by this much. */
const FLUSH_MS = 100

/** Counts not yet flushed, by state key. */
let pending = new Map()
/** @type {NodeJS.Timeout | undefined} */
let timer

const add = (/** @type {string} */ key, /** @type {number} */ n) => pending.set(key, (pending.get(key) ?? 0) + n)

/** @param {Ctx} ctx */
async function flush(ctx) {
  if (pending.size === 0) return
  const batch = pending
  pending = new Map()
  await Promise.all([...batch].map(([key, n]) => ctx.state.incrCounter(key, n)))
}

/** @type {import('../../../src/plugin/types.js').PluginDefinition<AnalyticsOptions>} */
export default {
  options,

  init(ctx) {
    timer = setInterval(() => {
      flush(ctx).catch((err) => ctx.log.error({ err }, 'analytics: flushing counts failed'))
    }, FLUSH_MS)
  },

  hooks: {
    /** `{ request, result }` as the supervisor emits it after the `create` action. */
    'shop/orders:afterCreate'(payload, ctx) {
      const order = /** @type {Order} */ (payload.result.order)
      const flagged = riskScore(order, ctx.options.costMs) < 8
      add('orders', 1)
      add(`units:${order.item}`, order.qty)
      if (flagged) add('flagged', 1)
    },
  },

  functions: {
    /** Totals so far. Any instance can answer: the counters live in the supervisor. */
    async report(_args, ctx) {
      // The shop knows what it sells; asking it shows a worker calling a core plugin back.
      const items = /** @type {string[]} */ (await ctx.call('shop.items'))
      const units = await Promise.all(items.map((item) => ctx.state.getCounter(`units:${item}`)))
      return {
        orders: await ctx.state.getCounter('orders'),
        flagged: await ctx.state.getCounter('flagged'),
        units: Object.fromEntries(items.map((item, i) => [item, units[i]])),
      }
    },
  },

  /** The last counts go out before the instance stops. */
  async close(ctx) {
    clearInterval(timer)
    await flush(ctx)
  },
}
