// @ts-check
/**
 * shop — a core plugin: it runs in the host's own event loop and owns the request path.
 *
 * - `POST /_/shop/orders/create` `{ item, qty }` records an order. Before the action runs, the
 *   supervisor pipes the request through `shop/orders:beforeCreate`, where this plugin reserves
 *   the stock or refuses the order (409). After it, the supervisor emits
 *   `shop/orders:afterCreate` with `{ request, result }` on its own: the worker plugins
 *   (analytics, audit) listen to that, and the request never waits for them.
 * - `GET /_/shop/orders/stock`, `GET /_/shop/orders/list?n=10` read what the shop knows.
 * - `GET /_/shop/reports/analytics`, `GET /_/shop/reports/audit?n=5` ask the worker plugins
 *   through `ctx.call`, across a thread and a process boundary.
 *
 * Stock and orders live in `ctx.state`, so they outlive a restart of the host.
 */
import { z } from 'zod'

/** @typedef {import('../../../src/plugin/types.js').ActionRequest} ActionRequest */
/** @typedef {{ stock: Record<string, number> }} ShopOptions */
/** @typedef {import('../../../src/plugin/types.js').PluginContext<ShopOptions>} Ctx */
/** @typedef {{ id: number, item: string, qty: number, at: string }} Order */

/** The operator's options (`plugins.shop.options` in outrigger.config.json), checked before init. */
const options = z
  .object({
    stock: z
      .record(z.string().regex(/^[a-z0-9-]{1,32}$/, 'an item name: lowercase letters, digits and "-"'), z.number().int().nonnegative())
      .default({ widget: 1000, gadget: 50 })
      .describe('Opening stock per item; an item is seeded once, the first time the shop sees it'),
  })
  .strict()

/** The most a single order may ask for, so one typo cannot empty the shelves. */
const MAX_QTY = 1000

const stockKey = (/** @type {string} */ item) => `stock:${item}`
const orderKey = (/** @type {number} */ id) => `order:${id}`

/** A refusal the HTTP API answers with this status and message (the supervisor keeps both). */
function refuse(/** @type {number} */ status, /** @type {string} */ message) {
  return Object.assign(new Error(message), { status })
}

/** @param {Ctx} ctx */
const items = (ctx) => Object.keys(ctx.options.stock)

/** @param {Ctx} ctx */
async function stockLevels(ctx) {
  const list = items(ctx)
  const levels = await Promise.all(list.map((item) => ctx.state.getCounter(stockKey(item))))
  return Object.fromEntries(list.map((item, i) => [item, levels[i]]))
}

/**
 * @param {unknown} body
 * @param {Ctx} ctx
 * @returns {{ item: string, qty: number }}
 */
function checkOrder(body, ctx) {
  const sells = items(ctx).join(', ')
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw refuse(400, `an order is a JSON object {"item": …, "qty": …}, POSTed with content-type application/json (found ${body == null ? 'no body' : JSON.stringify(body)}); the shop sells ${sells}`)
  }
  const { item, qty } = /** @type {{ item?: unknown, qty?: unknown }} */ (body)
  if (item === undefined) throw refuse(400, `the order has no "item": send one of ${sells}`)
  if (typeof item !== 'string') throw refuse(400, `"item" must be a string, one of ${sells} (found ${JSON.stringify(item)})`)
  if (!items(ctx).includes(item)) throw refuse(422, `unknown item ${JSON.stringify(item)}: the shop sells ${sells}`)
  if (qty === undefined) throw refuse(400, `the order has no "qty": send an integer from 1 to ${MAX_QTY}`)
  if (typeof qty !== 'number' || !Number.isInteger(qty) || qty < 1 || qty > MAX_QTY) {
    throw refuse(400, `"qty" must be an integer from 1 to ${MAX_QTY} (found ${JSON.stringify(qty)})`)
  }
  return { item, qty }
}

/** @type {import('../../../src/plugin/types.js').PluginDefinition<ShopOptions>} */
export default {
  options,

  async init(ctx) {
    // Seed each item once: the stock then lives on in the state store across restarts, and an
    // item added to the config later is seeded on the next start.
    for (const [item, qty] of Object.entries(ctx.options.stock)) {
      if (await ctx.state.getState(`seeded:${item}`)) continue
      await ctx.state.incrCounter(stockKey(item), qty)
      await ctx.state.putState(`seeded:${item}`, true)
    }
    ctx.log.info({ stock: await stockLevels(ctx) }, 'shop open')
  },

  pipes: {
    /**
     * Reserves the stock, or refuses the order. Checking and then decrementing would let two
     * concurrent orders both see the last gadget; `incrCounter` is atomic, so taking the
     * quantity first and giving it back when the level went below zero cannot oversell.
     */
    async 'shop/orders:beforeCreate'(request, ctx) {
      const { item, qty } = checkOrder(request.body, ctx)
      const left = await ctx.state.incrCounter(stockKey(item), -qty)
      if (left < 0) {
        await ctx.state.incrCounter(stockKey(item), qty)
        throw refuse(409, `not enough "${item}" in stock: ${qty} asked, ${left + qty} left`)
      }
      return { ...request, body: { item, qty } }
    },
  },

  controllers: {
    orders: {
      /** Runs only after the pipe reserved the stock; gives it back if recording fails. */
      async create(request, ctx) {
        const { item, qty } = /** @type {{ item: string, qty: number }} */ (request.body)
        try {
          const id = await ctx.state.incrCounter('orders')
          /** @type {Order} */
          const order = { id, item, qty, at: new Date().toISOString() }
          await ctx.state.putState(orderKey(id), order)
          return { order, stockLeft: await ctx.state.getCounter(stockKey(item)) }
        } catch (err) {
          await ctx.state.incrCounter(stockKey(item), qty)
          throw err
        }
      },

      stock: (_request, ctx) => stockLevels(ctx),

      /** The last `n` orders (default 10, at most 100), newest first. */
      async list(request, ctx) {
        const n = Math.min(100, Math.max(1, Number(request.query.n) || 10))
        const total = await ctx.state.getCounter('orders')
        const ids = Array.from({ length: Math.min(n, total) }, (_, i) => total - i)
        const orders = await Promise.all(ids.map((id) => ctx.state.getState(orderKey(id))))
        return { total, orders: orders.filter(Boolean) }
      },
    },

    // The worker plugins have no HTTP routes of their own (only core plugins may): these actions
    // call their functions wherever they run.
    reports: {
      analytics: (_request, ctx) => ctx.call('analytics.report'),
      audit: (request, ctx) => ctx.call('audit.tail', { n: Number(request.query.n) || 5 }),
    },
  },

  functions: {
    /** What the shop sells, for plugins that report per item. */
    items: (_args, ctx) => items(ctx),
  },
}
