/**
 * The one request path of a controller action (Kuzzle's request life cycle), whoever asks: the
 * HTTP face, a core plugin's `ctx.execute`, a protocol plugin (WebSocket) built on it.
 *
 *   auth slot → permission slot → body → pipe `:before<Action>` → action → pipe `:after<Action>`
 *   (may rewrite the result) → hook `:after<Action>`
 *
 * A thrown action runs the pipe `:error<Action>`, which may turn the error into a result; then the
 * hook `:after<Action>` (recovered) or `:error<Action>` (still failing). Everything is answered as
 * an {@link Envelope}; nothing throws out of here.
 */
import { randomUUID } from 'node:crypto'
import { OutriggerError, errorCode, errorMessage } from '../errors.js'
import type { ActionRequest, PluginLogger, ServiceProviders } from '../plugin/types.js'
import { Refusal, errorEnvelope, type Envelope } from './envelope.js'
import { mapError } from './error-status.js'
import { runWithDeadline } from './deadline.js'

/** What `ctx.execute` (and every entry point) is given. */
export interface ExecuteRequest {
  /** `<plugin>/<controller>`, as in the envelope. */
  controller: string
  action: string
  body?: unknown
  query?: Record<string, string>
  /** What the auth slot sees: the caller's headers and address (a WebSocket's upgrade request). */
  credentials?: { headers?: Record<string, string | string[] | undefined>; remoteAddress?: string }
  /** Chosen by the caller to trace across services; a fresh UUID otherwise. */
  requestId?: string
}

export interface ExecuteOptions {
  /**
   * Reads the body once the caller is known and allowed (HTTP), instead of `request.body`: a
   * refused client cannot make the host read or buffer anything.
   */
  readBody?: () => Promise<unknown>
}

/** A resolved action, run as its plugin. */
export type ActionRunner = (request: ActionRequest) => unknown

/** What the path needs of the supervisor: the slots, the bus and the actions. */
export interface ExecuteHost {
  readonly services: Required<Pick<ServiceProviders, 'auth' | 'permission'>>
  readonly log: PluginLogger
  /** `http.actionTimeoutMs`: the pipes and the action must settle within it. */
  readonly actionTimeoutMs: number
  pipe<T>(event: string, payload: T): Promise<T>
  /** The action, or undefined when no loaded core plugin has it. */
  action(plugin: string, controller: string, action: string): ActionRunner | undefined
  /** A hook event (fire-and-forget). */
  hook(event: string, payload: unknown): void
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** Runs one request and answers its envelope. */
export async function execute(host: ExecuteHost, raw: unknown, opts: ExecuteOptions = {}): Promise<Envelope> {
  const shown = shownTarget(raw)
  let requestId: string = randomUUID()
  try {
    const req = checkRequest(raw)
    if (req.requestId !== undefined) requestId = req.requestId
    const result = await authorizedRun(host, req, requestId, opts)
    return { requestId, status: 200, error: null, controller: req.controller, action: req.action, result: result ?? null }
  } catch (err) {
    const mapped = mapError(err)
    if (mapped.status >= 500) host.log.error({ err, requestId, controller: shown.controller, action: shown.action }, `action ${shown.controller}:${shown.action} failed: ${errorMessage(err)}`)
    return errorEnvelope(requestId, mapped.status, mapped.error, shown)
  }
}

async function authorizedRun(host: ExecuteHost, req: ExecuteRequest, requestId: string, opts: ExecuteOptions): Promise<unknown> {
  const slash = req.controller.indexOf('/')
  const target = { plugin: req.controller.slice(0, slash), controller: req.controller.slice(slash + 1), action: req.action }
  const headers = req.credentials?.headers ?? {}
  const user = await host.services.auth({ headers, remoteAddress: req.credentials?.remoteAddress })
  const allowed = await host.services.permission(user, target)
  if (allowed !== true) throw new Refusal(403, 'RIG_ERR_HTTP_FORBIDDEN', `not allowed to run ${target.plugin}/${target.controller}/${target.action}`)
  const body = opts.readBody ? await opts.readBody() : (req.body ?? null)
  const run = host.action(target.plugin, target.controller, target.action)
  if (!run) throw new OutriggerError('RIG_ERR_UNKNOWN_TARGET', `no action ${target.plugin}/${target.controller}/${target.action} (see GET /_info for the routes)`)
  const request: ActionRequest = { requestId, controller: target.controller, action: target.action, body, query: req.query ?? {}, headers, user }
  const ms = host.actionTimeoutMs
  return runWithDeadline(ms, (signal) => pipeline(host, req.controller, run, request, signal), () =>
    new OutriggerError('RIG_ERR_ACTION_TIMEOUT', `action ${req.controller}:${req.action} did not answer within ${ms} ms (http.actionTimeoutMs); its request.signal was aborted and its after pipe and hook will not run`, {
      details: { controller: req.controller, action: req.action },
    }),
  )
}

/**
 * Steps 3–6. Between steps the signal is checked: once the deadline answered the client, the
 * work stops at the next step rather than run an after pipe and hook nobody waits for.
 */
async function pipeline(host: ExecuteHost, scope: string, run: ActionRunner, request: ActionRequest, signal: AbortSignal): Promise<unknown> {
  const Action = request.action.charAt(0).toUpperCase() + request.action.slice(1)
  const req = withSignal(await host.pipe(`${scope}:before${Action}`, request), signal)
  signal.throwIfAborted()
  let result: unknown
  try {
    result = await run(req)
  } catch (err) {
    signal.throwIfAborted()
    const out = await host.pipe<{ request: ActionRequest; error?: unknown; result?: unknown }>(`${scope}:error${Action}`, { request: req, error: err })
    signal.throwIfAborted()
    if (out && typeof out === 'object' && out.error == null && 'result' in out) {
      host.hook(`${scope}:after${Action}`, { request: req, result: out.result })
      return out.result
    }
    const failure = (out && typeof out === 'object' && out.error) || err
    host.hook(`${scope}:error${Action}`, { request: req, error: plainError(failure) })
    throw failure
  }
  signal.throwIfAborted()
  const after = await host.pipe<{ request: ActionRequest; result: unknown }>(`${scope}:after${Action}`, { request: req, result })
  signal.throwIfAborted()
  if (after && typeof after === 'object' && 'result' in after) result = after.result
  host.hook(`${scope}:after${Action}`, { request: req, result })
  return result
}

/**
 * `request.signal` (aborted at the action timeout), not enumerable: the request travels in hook
 * payloads to worker plugins, and a signal cannot be cloned. A before pipe that returned a new
 * object gets it too.
 */
function withSignal(req: ActionRequest, signal: AbortSignal): ActionRequest {
  if (req && typeof req === 'object' && !Object.hasOwn(req, 'signal')) Object.defineProperty(req, 'signal', { value: signal, enumerable: false })
  return req
}

/** An error as a hook payload carries it: plain data, so worker plugins can receive it. */
function plainError(err: unknown): { code: string | null; message: string; status?: number } {
  const status = (err as { status?: unknown } | null)?.status
  return { code: errorCode(err), message: errorMessage(err), ...(typeof status === 'number' ? { status } : {}) }
}

/** The controller and action to name in an envelope, even for a malformed request. */
function shownTarget(raw: unknown): { controller: string | null; action: string | null } {
  const r = (raw !== null && typeof raw === 'object' ? raw : {}) as { controller?: unknown; action?: unknown }
  return { controller: typeof r.controller === 'string' ? r.controller : null, action: typeof r.action === 'string' ? r.action : null }
}

/** Refuses a malformed request with RIG_ERR_REQUEST_INVALID, naming the field and the fix. */
function checkRequest(raw: unknown): ExecuteRequest {
  const bad = (what: string): never => {
    throw new OutriggerError('RIG_ERR_REQUEST_INVALID', `${what}; a request is { controller: "<plugin>/<controller>", action, body?, query?, credentials?, requestId? }`)
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return bad(`the request is ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw}, not an object`)
  const r = raw as Record<string, unknown>
  const c = r.controller
  if (typeof c !== 'string' || !/^[^/]+\/[^/]+$/.test(c)) return bad(`"controller" must be "<plugin>/<controller>" (found ${JSON.stringify(c) ?? 'nothing'})`)
  if (typeof r.action !== 'string' || r.action === '') return bad(`"action" must be a non-empty string (found ${JSON.stringify(r.action) ?? 'nothing'})`)
  if (r.requestId !== undefined && (typeof r.requestId !== 'string' || !REQUEST_ID.test(r.requestId))) {
    return bad(`"requestId" must be 1–128 characters of letters, digits and . _ : - (found ${JSON.stringify(r.requestId)})`)
  }
  if (r.query !== undefined && (r.query === null || typeof r.query !== 'object' || Object.values(r.query).some((v) => typeof v !== 'string'))) {
    return bad('"query" must be an object of strings')
  }
  if (r.credentials !== undefined && (r.credentials === null || typeof r.credentials !== 'object')) return bad('"credentials" must be an object { headers?, remoteAddress? }')
  return r as unknown as ExecuteRequest
}
