// @ts-check
/** One WebSocket client: its frames in, its bounded buffer out, its subscriptions. */
import { randomUUID } from 'node:crypto'
import { authToken, withToken } from './credentials.js'
import { checkPattern } from './subscriptions.js'

/** @typedef {import('ws').WebSocket} WebSocket */
/** @typedef {import('./subscriptions.js').Subscriptions} Subscriptions */
/** @typedef {import('../../../src/plugin/types.js').PluginContext<{ maxBufferedBytes: number, maxInFlight: number, maxSubscriptions: number, closeGraceMs: number }>} Ctx */
/** @typedef {import('./credentials.js').Credentials} Credentials */

/** WebSocket close codes (RFC 6455 §7.4.1). */
export const CLOSE = { UNSUPPORTED_DATA: 1003, POLICY: 1008 }

export class Client {
  /** @type {Set<string>} */
  #patterns = new Set()
  #inFlight = 0
  /** @type {Array<Record<string, unknown>>} */
  #held = []
  #closing = false

  /**
   * @param {WebSocket} ws @param {Ctx} ctx @param {Credentials} credentials
   * @param {Subscriptions} subs @param {{ cutOff: number, requests: number }} counts
   */
  constructor(ws, ctx, credentials, subs, counts) {
    this.ws = ws
    this.ctx = ctx
    this.credentials = credentials
    this.subs = subs
    this.counts = counts
    // ws reports bad frames (too big, bad UTF-8, protocol errors) here, then closes with the
    // matching code itself; without a listener the error would be thrown in the host.
    ws.on('error', (err) => ctx.log.debug({ err: err.message }, 'WebSocket client error'))
    ws.on('message', (data, isBinary) => this.#onFrame(/** @type {Buffer} */ (data), isBinary))
  }

  /** An event frame from the subscriptions. */
  deliver(/** @type {string} */ frame) {
    this.#send(frame)
  }

  /**
   * @param {Buffer} data @param {boolean} isBinary
   */
  #onFrame(data, isBinary) {
    if (this.#closing) return
    if (isBinary) return this.#cut(CLOSE.UNSUPPORTED_DATA, 'binary frames are not accepted: send JSON text frames')
    /** @type {unknown} */
    let frame
    try {
      frame = JSON.parse(data.toString('utf8'))
    } catch (err) {
      return this.#refuse(undefined, `the frame is not valid JSON (${/** @type {Error} */ (err).message})`)
    }
    if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) {
      return this.#refuse(undefined, `a frame is a JSON object { requestId, controller, action, body }, { subscribe: "<pattern>" } or { auth: "<token>" } (found ${Array.isArray(frame) ? 'an array' : JSON.stringify(frame)})`)
    }
    const f = /** @type {Record<string, unknown>} */ (frame)
    if ('auth' in f) return void this.#auth(f)
    if ('subscribe' in f) return void this.#subscribe(f)
    if ('unsubscribe' in f) return this.#unsubscribe(f)
    this.#run({ requestId: f.requestId, controller: f.controller, action: f.action, body: f.body, query: f.query })
  }

  /**
   * Runs a request, or holds it while maxInFlight of this client's requests run. Holding also
   * stops reading the socket, so TCP pushes back on the client; what is held is only what ws
   * had already read when the socket paused (frames of one read), not a queue that can grow.
   * @param {Record<string, unknown>} request
   */
  #run(request) {
    if (this.#inFlight >= this.ctx.options.maxInFlight) {
      this.#held.push(request)
      this.ws.pause()
      return
    }
    this.counts.requests++
    this.#inFlight++
    const execute = /** @type {NonNullable<Ctx['execute']>} */ (this.ctx.execute)
    execute({ ...request, credentials: this.credentials })
      .then((env) => this.#send(envelopeText(env)))
      .finally(() => {
        this.#inFlight--
        const next = this.#held.shift()
        if (next) return this.#run(next)
        if (this.ws.isPaused) this.ws.resume()
      })
  }

  /** Subscribing is an action of this plugin, so it passes the auth and permission slots. */
  async #subscribe(/** @type {Record<string, unknown>} */ f) {
    if (this.#patterns.size >= this.ctx.options.maxSubscriptions && !this.#patterns.has(String(f.subscribe))) {
      return this.#refuse(f.requestId, `this connection already holds ${this.#patterns.size} subscriptions (maxSubscriptions); unsubscribe from one first`)
    }
    const env = await /** @type {NonNullable<Ctx['execute']>} */ (this.ctx.execute)({
      requestId: /** @type {string | undefined} */ (f.requestId),
      controller: `${this.ctx.name}/realtime`,
      action: 'subscribe',
      body: { pattern: f.subscribe },
      credentials: this.credentials,
    })
    if (env.status === 200 && !this.#closing && this.ws.readyState === this.ws.OPEN) {
      const pattern = /** @type {{ subscribed: string }} */ (env.result).subscribed
      this.#patterns.add(pattern)
      this.subs.add(this, pattern)
    }
    this.#send(envelopeText(env))
  }

  /**
   * An auth frame replaces the connection's token at once, so the frames read after it run with
   * it (requests already running keep theirs). Its answer is the envelope of the action
   * `session:auth` run with the new credentials: a wrong token gets the 401 an HTTP caller gets,
   * and so does every later request until a good token replaces it.
   * @param {Record<string, unknown>} f
   */
  async #auth(f) {
    const given = authToken(f.auth)
    if ('error' in given) return this.#refuse(f.requestId, given.error)
    this.credentials = withToken(this.credentials, given.token)
    const env = await /** @type {NonNullable<Ctx['execute']>} */ (this.ctx.execute)({
      requestId: /** @type {string | undefined} */ (f.requestId),
      controller: `${this.ctx.name}/session`,
      action: 'auth',
      credentials: this.credentials,
    })
    this.#send(envelopeText(env))
  }

  /**
   * Credentials sent in a way that is refused (a token in the URL, malformed subprotocols): the
   * full message in an error frame, then a close with a short reason a browser's onclose shows.
   * @param {{ message: string, reason: string }} why
   */
  refuseConnection(why) {
    this.#refuse(undefined, why.message)
    this.#cut(CLOSE.POLICY, why.reason)
  }

  /** @param {Record<string, unknown>} f */
  #unsubscribe(f) {
    let pattern
    try {
      pattern = checkPattern(f.unsubscribe)
    } catch (err) {
      return this.#refuse(f.requestId, /** @type {Error} */ (err).message)
    }
    this.#patterns.delete(pattern)
    this.subs.remove(this, pattern)
    this.#send(JSON.stringify({ requestId: typeof f.requestId === 'string' ? f.requestId : randomUUID(), status: 200, error: null, controller: null, action: 'unsubscribe', result: { unsubscribed: pattern } }))
  }

  /** An error frame in the envelope's shape; the connection stays open. */
  #refuse(/** @type {unknown} */ requestId, /** @type {string} */ message) {
    const id = typeof requestId === 'string' ? requestId : randomUUID()
    this.#send(JSON.stringify({ requestId: id, status: 400, error: { code: 'RIG_ERR_REQUEST_INVALID', message }, controller: null, action: null, result: null }))
  }

  /**
   * Sends a frame, unless that would take this client's unsent bytes past maxBufferedBytes:
   * then the client is cut off. `bufferedAmount` counts what ws and the socket still hold.
   */
  #send(/** @type {string} */ text) {
    if (this.#closing || this.ws.readyState !== this.ws.OPEN) return
    const max = this.ctx.options.maxBufferedBytes
    if (this.ws.bufferedAmount + Buffer.byteLength(text) > max) {
      this.counts.cutOff++
      this.ctx.log.warn({ remoteAddress: this.credentials.remoteAddress, buffered: this.ws.bufferedAmount }, 'slow WebSocket consumer cut off')
      return this.#cut(CLOSE.POLICY, `slow consumer: more than ${max} bytes waiting to be sent (maxBufferedBytes)`)
    }
    this.ws.send(text)
  }

  /**
   * Closes with a code and reason; what is already buffered is all that is ever held. A client
   * that does not take its close frame within closeGraceMs has its socket destroyed.
   * @param {number} code @param {string} reason
   */
  #cut(code, reason) {
    this.#closing = true
    this.subs.drop(this)
    this.ws.close(code, reason)
    const timer = setTimeout(() => this.ws.terminate(), this.ctx.options.closeGraceMs)
    timer.unref()
    this.ws.once('close', () => clearTimeout(timer))
  }
}

/**
 * An envelope as text. A result JSON cannot carry (a BigInt, a cycle) becomes a 500 envelope,
 * as it does over HTTP.
 * @param {import('../../../src/protocol/envelope.js').Envelope} env
 */
function envelopeText(env) {
  try {
    return JSON.stringify(env)
  } catch (err) {
    return JSON.stringify({ ...env, status: 500, result: null, error: { code: 'RIG_ERR_HTTP_RESULT_NOT_JSON', message: `the result cannot be sent as JSON: ${/** @type {Error} */ (err).message}` } })
  }
}
