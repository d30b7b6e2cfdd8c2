import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { debuglog } from 'node:util'
import { OutriggerError } from '../errors.js'
import { createMetrics, type Metrics } from '../metrics/metrics.js'
import type { Supervisor } from '../supervisor/types.js'
import { authenticate, runAction } from './action.js'
import { sendLog } from './log-route.js'
import { sendDashboard } from './dashboard.js'
import { HttpError, errorEnvelope, sendEnvelope } from './envelope.js'
import { mapError } from './error-status.js'
import { sendHealth, sendInfo, sendMetrics, sendStatus } from './reports.js'
import { runPluginOperation, operationController } from './plugin-ops.js'
import { matchRoute } from './routes.js'
import { rawErrorResponse } from './raw-response.js'
import { StatusEvents, type StatusEventsOptions } from './status-events.js'

const debug = debuglog('outrigger')

export interface HttpServerOptions {
  host: string
  /** 0 picks a free port; the real one is returned. */
  port: number
  maxBodyBytes: number
  /** How long a client has to send its whole request (headers and body); then 408. */
  requestTimeoutMs: number
  /** Metrics to serve on /metrics; made here if absent. Handler durations are fed into them. */
  metrics?: Metrics
  /** The pace and per-client buffer of `GET /_events/status` (defaults: 1 s, 1 MiB). */
  statusEvents?: StatusEventsOptions
}

export interface HttpServer {
  port: number
  url: string
  metrics: Metrics
  /** How many `GET /_events/status` streams are open. */
  statusStreams(): number
  close(): Promise<void>
}

/** A client may choose its request id (to trace across services) if it is short and plain. */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** Starts the HTTP API (DESIGN.md §5) of a supervisor on `node:http`; it closes when the supervisor stops. */
export async function startHttpServer(sup: Supervisor, opts: HttpServerOptions): Promise<HttpServer> {
  const metrics = opts.metrics ?? createMetrics(sup)
  const events = new StatusEvents(sup, opts.statusEvents)
  // Node checks for slow clients on an interval (30 s by default); a shorter one makes the
  // configured timeout mean what it says.
  const checkEvery = Math.max(50, Math.min(1000, Math.floor(opts.requestTimeoutMs / 4)))
  const server = createServer({
    requestTimeout: opts.requestTimeoutMs,
    headersTimeout: opts.requestTimeoutMs,
    connectionsCheckingInterval: checkEvery,
  })
  // The response being written on each socket, so a timeout that fires mid-body answers through it.
  const inFlight = new WeakMap<Socket, ServerResponse>()

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    inFlight.set(req.socket, res)
    res.on('finish', () => inFlight.delete(req.socket))
    handle(sup, metrics, events, opts, req, res).catch((err: unknown) => {
      // handle() answers its own errors; this only guards against a bug while answering.
      sup.log.error({ err }, 'HTTP handler failed')
      if (!res.headersSent) res.writeHead(500)
      res.end()
    })
  })

  // Malformed HTTP and slow clients never reach 'request'; answer them with an envelope too.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    debug('http client error %s', err.code)
    const res = inFlight.get(socket)
    const refusal = clientErrorRefusal(err.code)
    if (res && !res.headersSent && refusal) {
      const env = errorEnvelope(requestIdOf(res), refusal.status, { code: refusal.code, message: refusal.message }, actionOf(res))
      res.shouldKeepAlive = false
      sendEnvelope(res, env, { connection: 'close' })
      res.once('finish', () => socket.destroy())
      return
    }
    if (!res && refusal && socket.writable) {
      const env = errorEnvelope(randomUUID(), refusal.status, { code: refusal.code, message: refusal.message })
      socket.end(rawErrorResponse(refusal.status, env))
      return
    }
    socket.destroy()
  })

  await new Promise<void>((resolve, reject) => {
    const refused = (err: NodeJS.ErrnoException) => reject(listenError(err, opts.host, opts.port))
    server.once('error', refused)
    server.listen(opts.port, opts.host, () => {
      server.off('error', refused)
      resolve()
    })
  })
  server.on('error', (err) => sup.log.error({ err }, 'HTTP server error'))
  const port = (server.address() as AddressInfo).port
  const hostInUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host
  // The /metrics histogram of handler durations is this face's own business, fed by the core.
  const unobserve = sup.observeHandlers((plugin, ms) => metrics.observeHandler(plugin, ms))
  const http: HttpServer = {
    port,
    url: `http://${hostInUrl}:${port}`,
    metrics,
    statusStreams: () => events.size,
    close: () => {
      unobserve()
      // Streams never finish on their own: end them, or closing would wait out the grace period.
      events.close()
      return closeServer(server, opts.requestTimeoutMs)
    },
  }
  sup.onClose(() => http.close())
  return http
}

async function handle(sup: Supervisor, metrics: Metrics, events: StatusEvents, opts: HttpServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const header = req.headers['x-request-id']
  const requestId = typeof header === 'string' && CLIENT_REQUEST_ID.test(header) ? header : randomUUID()
  res.setHeader('x-request-id', requestId)
  const url = new URL(req.url ?? '/', 'http://localhost')
  const route = matchRoute(req.method ?? 'GET', url.pathname)
  let envelopeTarget: { controller: string; action: string } | undefined
  try {
    switch (route.kind) {
      case 'not-found':
        throw new HttpError(404, 'RIG_ERR_HTTP_NOT_FOUND', `no route for ${req.method} ${url.pathname}; GET /_info lists them`)
      case 'method-not-allowed':
        throw new HttpError(405, 'RIG_ERR_HTTP_METHOD_NOT_ALLOWED', `${url.pathname} answers ${route.allow.join(', ')}, not ${req.method}`, {
          allow: route.allow.join(', '),
        })
      // A liveness probe must answer without credentials.
      case 'health':
        return sendHealth(sup, res)
      case 'status':
        await authenticate(sup, req)
        return await sendStatus(sup, res, url.searchParams.get('cluster'))
      case 'info':
        await authenticate(sup, req)
        return sendInfo(sup, res)
      case 'metrics':
        await authenticate(sup, req)
        return await sendMetrics(metrics, res)
      case 'operation': {
        envelopeTarget = { controller: operationController(route.plugin), action: route.op }
        const user = await authenticate(sup, req)
        return await runPluginOperation(sup, req, res, { requestId, plugin: route.plugin, op: route.op, maxBodyBytes: opts.maxBodyBytes, user })
      }
      case 'dashboard':
        await authenticate(sup, req)
        return await sendDashboard(res)
      case 'dashboard-asset':
        await authenticate(sup, req)
        return await sendDashboard(res, route.name)
      case 'status-events':
        await authenticate(sup, req)
        return events.add(res)
      case 'log':
        await authenticate(sup, req)
        return await sendLog(sup, url.searchParams, res)
      case 'action': {
        // Auth, permission and the envelope are the request path's (sup.execute), as for every entry point.
        const query = Object.fromEntries(url.searchParams)
        return await runAction(sup, req, res, { requestId, target: route.target, query, maxBodyBytes: opts.maxBodyBytes })
      }
    }
  } catch (err) {
    const mapped = mapError(err)
    if (mapped.status >= 500) sup.log.error({ err, requestId, url: url.pathname }, 'HTTP request failed')
    const headers = { ...mapped.headers }
    if (mapped.status === 401) headers['www-authenticate'] = 'Bearer'
    // The rest of an oversized body is not worth reading: answer and close.
    if (headers.connection === 'close') res.shouldKeepAlive = false
    sendEnvelope(res, errorEnvelope(requestId, mapped.status, mapped.error, envelopeTarget ?? {}), headers)
  }
}

function requestIdOf(res: ServerResponse): string {
  const id = res.getHeader('x-request-id')
  return typeof id === 'string' ? id : randomUUID()
}

/** The action a response answers, if any: a timeout mid-body still names it in the envelope. */
function actionOf(res: ServerResponse): { controller?: string; action?: string } {
  const route = matchRoute(res.req.method ?? 'GET', new URL(res.req.url ?? '/', 'http://localhost').pathname)
  if (route.kind === 'operation') return { controller: operationController(route.plugin), action: route.op }
  return route.kind === 'action' ? { controller: `${route.target.plugin}/${route.target.controller}`, action: route.target.action } : {}
}

function clientErrorRefusal(code: string | undefined): { status: number; code: HttpError['code']; message: string } | undefined {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { status: 408, code: 'RIG_ERR_HTTP_TIMEOUT', message: 'the request was not received in time (http.requestTimeoutMs)' }
  }
  if (code === 'HPE_HEADER_OVERFLOW') return { status: 431, code: 'RIG_ERR_HTTP_HEADERS_TOO_LARGE', message: 'the request headers are too large' }
  if (code?.startsWith('HPE_')) return { status: 400, code: 'RIG_ERR_HTTP_BAD_REQUEST', message: `the request is not valid HTTP (${code})` }
  return undefined
}

/**
 * Stops accepting, lets requests in progress finish, and closes idle keep-alive connections; a
 * request still running after `graceMs` has its connection cut so close() always settles.
 */
function closeServer(server: ReturnType<typeof createServer>, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve()
    const timer = setTimeout(() => server.closeAllConnections(), graceMs)
    timer.unref()
    server.close(() => {
      clearTimeout(timer)
      resolve()
    })
    server.closeIdleConnections()
  })
}

/** Why the HTTP API could not listen, said so that the operator knows which setting to change. */
function listenError(err: NodeJS.ErrnoException, host: string, port: number): OutriggerError {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`
  const why =
    err.code === 'EADDRINUSE'
      ? `${where} is already in use by another process; pick another port with --port, PORT or http.port in the config (0 picks a free one), or stop the other process`
      : err.code === 'EACCES'
        ? `${where} needs privileges this process lacks; use a port above 1023`
        : err.code === 'EADDRNOTAVAIL'
          ? `${host} is not an address of this machine; set http.host to one of its addresses (127.0.0.1, or 0.0.0.0 for all)`
          : `${where}: ${err.message}`
  return new OutriggerError('RIG_ERR_HTTP_LISTEN', `the HTTP API cannot listen: ${why}`, { cause: err, details: { host, port, code: err.code } })
}
