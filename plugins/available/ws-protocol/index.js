// @ts-check
/**
 * ws-protocol — a core plugin that serves the controller actions over WebSocket, on its own port.
 *
 * - A text frame `{ requestId, controller: "<plugin>/<controller>", action, body, query }` runs
 *   through `ctx.execute`: the same auth and permission slots, pipes, action and hooks as HTTP,
 *   with the upgrade request's headers and address as the credentials. The answer is the
 *   envelope `{ requestId, status, error, controller, action, result }`.
 * - A browser cannot set an Authorization header on the upgrade: it sends its bearer token as the
 *   subprotocols `['bearer', '<token>']` (answered `bearer`) or in a frame `{ auth: "<token>" }`.
 *   Either reaches the auth slot as `authorization: Bearer <token>`, as over HTTP; a token in the
 *   URL is refused (close 1008), as URLs are logged.
 * - `{ subscribe: "orders:*" }` (and `unsubscribe`) picks events to receive as
 *   `{ event, subscription, payload }` frames. Subscribing is the action
 *   `ws-protocol/realtime:subscribe`, so the permission slot decides who may listen.
 * - Each client has a bounded outgoing buffer: one that does not read is cut off (close 1008,
 *   "slow consumer"), so it cannot grow the host's memory.
 * - Bad input never crashes the host: garbage gets an error frame (400 RIG_ERR_REQUEST_INVALID),
 *   a frame over `maxFrameBytes` closes with 1009, a binary frame with 1003.
 */
import { WebSocketServer } from 'ws'
import { z } from 'zod'
import { Client } from './client.js'
import { chooseProtocol, upgradeCredentials } from './credentials.js'
import { Subscriptions, checkPattern } from './subscriptions.js'

/** @typedef {z.output<typeof options>} WsOptions */
/** @typedef {import('../../../src/plugin/types.js').PluginContext<WsOptions>} Ctx */

const options = z
  .object({
    host: z.string().default('127.0.0.1').describe('Address to listen on'),
    port: z.number().int().min(0).max(65535).default(7412).describe('Port to listen on (0: any free one; the function address() tells it)'),
    maxFrameBytes: z.number().int().positive().default(1048576).describe('A bigger frame closes the connection with 1009'),
    maxBufferedBytes: z.number().int().positive().default(1048576).describe("A client's outgoing bytes not yet taken by the network; past it the client is cut off"),
    maxInFlight: z.number().int().positive().default(64).describe("Requests of one client running at once; past it the host stops reading that client's frames"),
    maxSubscriptions: z.number().int().positive().default(64).describe('Patterns one client may subscribe to'),
    closeGraceMs: z.number().int().positive().max(2 ** 31 - 1).default(5000).describe('How long a closing client has to take its close frame before its socket is destroyed'),
  })
  .strict()

/**
 * A factory: each host that loads this plugin gets its own server, clients and counters (a module
 * is loaded once per process, and tests run several hosts in one).
 */
export default function wsProtocol() {
  /** @type {WebSocketServer | undefined} */
  let server
  const subs = new Subscriptions()
  const counts = { connected: 0, cutOff: 0, requests: 0, eventsSent: 0 }

  return {
  options,

  /** @param {Ctx} ctx */
  async init(ctx) {
    const o = ctx.options
    const wss = new WebSocketServer({ host: o.host, port: o.port, maxPayload: o.maxFrameBytes, perMessageDeflate: false, handleProtocols: chooseProtocol })
    await new Promise((resolve, reject) => {
      wss.once('listening', resolve)
      wss.once('error', (err) => reject(new Error(`ws-protocol cannot listen on ${o.host}:${o.port}: ${err.message}; pick another plugins["ws-protocol"].options.port`)))
    })
    wss.on('error', (err) => ctx.log.error({ err }, 'WebSocket server error'))
    wss.on('connection', (ws, req) => {
      counts.connected++
      const who = upgradeCredentials(req)
      const client = new Client(ws, ctx, who.credentials, subs, counts)
      ws.once('close', () => {
        counts.connected--
        subs.drop(client)
      })
      if ('refused' in who) client.refuseConnection(who.refused)
    })
    server = wss
    const url = `ws://${o.host.includes(':') ? `[${o.host}]` : o.host}:${/** @type {import('node:net').AddressInfo} */ (wss.address()).port}`
    ctx.log.info({ url }, `ws-protocol listening on ${url}`)
  },

  /** @param {Ctx} ctx */
  async close(ctx) {
    const wss = server
    server = undefined
    if (!wss) return
    for (const ws of wss.clients) ws.close(1001, 'the host is stopping')
    const done = new Promise((resolve) => wss.close(() => resolve(undefined)))
    // A client that never answers the close frame must not hold the shutdown.
    const force = setTimeout(() => {
      for (const ws of wss.clients) ws.terminate()
    }, Math.min(ctx.options.closeGraceMs, 1000))
    await done
    clearTimeout(force)
  },

  hooks: {
    /** Every event goes past here; only those a client subscribed to are sent (matching is per pattern, not per client). */
    '*'(/** @type {unknown} */ payload, /** @type {Ctx} */ _ctx, /** @type {{ event: string }} */ meta) {
      subs.publish(meta.event, payload, counts)
    },
  },

  controllers: {
    session: {
      /** The answer to an auth frame: reached only once the auth slot took its token. */
      auth: () => ({ authenticated: true }),
    },
    realtime: {
      /** Checks a subscription: as an action, it passes the auth and permission slots. */
      subscribe(/** @type {{ body: unknown }} */ request) {
        const pattern = /** @type {{ pattern?: unknown } | null} */ (request.body)?.pattern
        return { subscribed: checkPattern(pattern) }
      },
    },
  },

  functions: {
    /** Where the server listens (tests and tools start it on port 0). */
    address: () => {
      const a = server?.address()
      return a && typeof a === 'object' ? { host: a.address, port: a.port } : null
    },
    stats: () => ({ ...counts, subscriptions: subs.size }),
  },
}
}
