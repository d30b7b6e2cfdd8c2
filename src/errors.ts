/**
 * Every error Outrigger raises on purpose is an `OutriggerError` with a stable `RIG_ERR_*` code.
 * Codes live here and only here, so the list is the contract (and `test/errors.test.ts` walks it).
 */
export const ErrorCodes = {
  RIG_ERR_MANIFEST_INVALID: 'The plugin manifest is missing, not JSON, or fails the schema',
  RIG_ERR_CONFIG_INVALID: 'The host config fails its schema',
  RIG_ERR_OPTIONS_INVALID: "A plugin's options fail the plugin's own schema",
  RIG_ERR_ENGINE_MISMATCH: "The plugin's engine range excludes this Outrigger version",
  RIG_ERR_PLUGIN_LOAD: "The plugin's entry module cannot be loaded or exports no plugin",
  RIG_ERR_PLUGIN_INIT: 'A start-up step (init, whenReady) threw',
  RIG_ERR_PLUGIN_INIT_TIMEOUT: 'A start-up step (init, whenReady) did not finish within its timeout',
  RIG_ERR_PLUGIN_CLOSE: "A plugin's close threw or did not finish within its timeout",
  RIG_ERR_PLUGINS_DIR: 'The plugins folder is missing or unreadable',
  RIG_ERR_STRICT_START: '--strict refused to start because a plugin, or a newer version folder of one, failed',
  RIG_ERR_WORKER_DEFINITION: 'A worker plugin defines pipes, controllers or provides, which only core plugins may',
  RIG_ERR_PIPE_ABORTED: 'A pipe listener threw and aborted the chain',
  RIG_ERR_PIPE_BUSY: 'Too many pipe chains are running at once',
  RIG_ERR_PIPE_TIMEOUT: 'A pipe listener did not settle within timeouts.pipeTimeoutMs',
  RIG_ERR_UNKNOWN_TARGET: 'No plugin function answers to that name',
  RIG_ERR_NOT_CLONEABLE: 'A payload cannot be structured-cloned to a worker',
  RIG_ERR_QUEUE_FULL: "A worker plugin's queue is full and its overflow policy is reject",
  RIG_ERR_WORKER_EXITED: 'A worker instance exited',
  RIG_ERR_WORKER_UNRESPONSIVE: 'A worker instance stopped answering heartbeats',
  RIG_ERR_WORKER_START: 'A worker instance failed to start',
  RIG_ERR_SOURCE_FAILED: "A plugin's source.start threw before it was told to stop",
  RIG_ERR_HANDLER_TIMEOUT: 'A worker hook did not settle within limits.handlerTimeoutMs; its event failed and the worker went on',
  RIG_ERR_CALL_TIMEOUT: "A plugin function (a worker's across the boundary, or a core plugin's) did not answer in time",
  RIG_ERR_CRASH_LOOP: 'A worker plugin restarted too often and is quarantined',
  RIG_ERR_WORKER_STOPPED: 'Its restart policy left a worker instance stopped; a stopped plugin drops its events until an operator restart',
  RIG_ERR_CLOSED: 'The supervisor is stopping or stopped',
  RIG_ERR_CONTROL_UNREACHABLE: 'No supervisor answers on the control socket',
  RIG_ERR_CONTROL_IN_USE: 'Another live supervisor already owns the control socket',
  RIG_ERR_CONTROL_REQUEST: 'A control request is malformed or unknown',
  RIG_ERR_UNKNOWN_PLUGIN: 'No plugin of that name is loaded',
  RIG_ERR_NOT_RESTARTABLE: 'Core plugins share the host process and cannot be restarted on their own; restart the host',
  RIG_ERR_UNKNOWN_DEAD_LETTER: 'A dead-letter replay or purge names an id the plugin does not have; nothing was done',
  RIG_ERR_DEAD_LETTER_SELECTION: 'A dead-letter replay or purge got a malformed id, limit or time, or both ids and a time',
  RIG_ERR_SLOT_CONFLICT: 'Two plugins provide the same service slot',
  RIG_ERR_HTTP_LISTEN: 'The HTTP API cannot listen on its host and port (in use, not allowed, or not an address here)',
  RIG_ERR_ACTION_TIMEOUT: 'A controller action (with its pipes) did not answer within http.actionTimeoutMs',
  RIG_ERR_REQUEST_INVALID: 'A request to ctx.execute (or a protocol entry point built on it) is malformed',
  RIG_ERR_JOURNAL: 'A durable delivery journal cannot be opened, or one of its commits failed',
  RIG_ERR_PROFILE_UNAVAILABLE: 'A worker instance cannot be profiled: it is not running, or its inspector or profiler thread is not available',
  RIG_ERR_PROFILE_OPTIONS: 'A profile request has a malformed instance id or length',
  RIG_ERR_PROFILE_FAILED: 'A CPU profile of a worker instance was started but did not finish or could not be written',
  RIG_ERR_COORD_ENTRY: "A coordination log entry's type is not the plugin's own, or its args are not plain JSON",
  RIG_ERR_COORD_ENTRY_TOO_LARGE: 'A coordination log entry is over 64 KiB as JSON',
  RIG_ERR_COORD_HANDLER: "A plugin's apply, diff or reactions threw on a coordination log entry",
  RIG_ERR_COORD_LOG: 'The coordination log cannot be opened, or one of its writes failed',
  RIG_ERR_RELOAD_FAILED: "A reload's new code or manifest failed to load or init; the running instances keep the old code",
  RIG_ERR_RELOAD_REFUSED: 'A plugin cannot be reloaded, started or stopped live that way; nothing was changed',
  RIG_ERR_CLUSTER_REQUIRED: 'A worker plugin says "placement": "cluster" but the host has no cluster config',
  RIG_ERR_CLUSTER_UNREACHABLE: "The cluster's Redis cannot be reached, or its TLS certificate is refused: the node cannot start, or the cluster's status cannot be read",
} as const

export type ErrorCode = keyof typeof ErrorCodes

/**
 * Codes for refusals the HTTP layer makes on its own (no supervisor error behind them). They keep
 * the `RIG_ERR_` prefix so a client switches on one family of codes, whichever layer refused.
 */
export const HttpErrorCodes = {
  RIG_ERR_HTTP_MALFORMED_JSON: 'The request body is not valid JSON',
  RIG_ERR_HTTP_BODY_TOO_LARGE: 'The request body is larger than http.maxBodyBytes',
  RIG_ERR_HTTP_NOT_FOUND: 'No route answers to that path',
  RIG_ERR_HTTP_METHOD_NOT_ALLOWED: 'The route exists but not for that method',
  RIG_ERR_HTTP_TIMEOUT: 'The client did not send its request within http.requestTimeoutMs',
  RIG_ERR_HTTP_BAD_REQUEST: 'The request could not be parsed as HTTP',
  RIG_ERR_HTTP_HEADERS_TOO_LARGE: 'The request headers are too large',
  RIG_ERR_HTTP_UNAUTHORIZED: 'The auth slot refused the request',
  RIG_ERR_HTTP_FORBIDDEN: 'The permission slot refused the action',
  RIG_ERR_HTTP_INTERNAL: 'An error without a code escaped while answering',
  RIG_ERR_HTTP_RESULT_NOT_JSON: "The action's result cannot be serialised as JSON",
} as const


/** The shape an error takes when it crosses a thread or process boundary. */
export interface SerializedError {
  name: string
  code?: string
  message: string
  stack?: string
  cause?: SerializedError
}

export type HttpErrorCode = keyof typeof HttpErrorCodes

export class OutriggerError extends Error {
  override name = 'OutriggerError'
  readonly code: ErrorCode | HttpErrorCode
  /** Free-form facts for operators (plugin, file, field…); kept out of the message's wording. */
  readonly details: Record<string, unknown> | undefined

  constructor(code: ErrorCode | HttpErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.details = options.details
  }
}

export function isOutriggerError(err: unknown, code?: ErrorCode | HttpErrorCode): err is OutriggerError {
  return err instanceof OutriggerError && (code === undefined || err.code === code)
}

export function serializeError(err: unknown, depth = 0): SerializedError {
  if (err instanceof Error) {
    const out: SerializedError = { name: err.name, message: err.message, stack: err.stack }
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string') out.code = code
    if (err.cause !== undefined && depth < 4) out.cause = serializeError(err.cause, depth + 1)
    return out
  }
  return { name: 'Error', message: typeof err === 'string' ? err : safeString(err) }
}

/** Rebuilds an error on this side of a boundary, keeping its code, message, stack and cause. */
export function deserializeError(s: SerializedError): Error {
  const cause = s.cause ? deserializeError(s.cause) : undefined
  let err: Error
  if (s.code && (s.code in ErrorCodes || s.code in HttpErrorCodes)) {
    err = new OutriggerError(s.code as ErrorCode | HttpErrorCode, s.message, { cause })
  } else {
    err = new Error(s.message, cause === undefined ? undefined : { cause })
    err.name = s.name
    if (s.code) (err as { code?: string }).code = s.code
  }
  if (s.stack) err.stack = s.stack
  return err
}

/** The `code` an error carries (ours, Node's `ENOENT`, a plugin's own), or null when it has none. */
export function errorCode(err: unknown): string | null {
  const code = (err as { code?: unknown } | null | undefined)?.code
  return typeof code === 'string' ? code : null
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message
  // A serialized error (a worker's hook failure) reads as its message, not as a JSON blob.
  const message = (err as { message?: unknown } | null | undefined)?.message
  return typeof message === 'string' ? message : safeString(err)
}

/**
 * An error as a log line should carry it, for pino or any other logger: a real Error (pino's
 * serializer turns anything else into `{"type":"Object"}`) with its name, code and stack, and no
 * `cause`. pino appends every cause's message to the message, and ours already name their cause
 * ("init threw: <cause>"), so each cause would appear twice. Instead, a cause's message is added
 * only when the message does not already tell it, and its stack goes under the error's own.
 */
export function forLog(err: unknown): Error {
  const e = err instanceof Error ? err : isSerialized(err) ? deserializeError(err) : new Error(safeString(err))
  let message = e.message
  let stack = e.stack ?? `${e.name}: ${e.message}`
  const seen = new Set<unknown>([e])
  for (let c = e.cause; c !== undefined && c !== null && !seen.has(c) && seen.size < 8; c = (c as { cause?: unknown }).cause) {
    seen.add(c)
    const m = errorMessage(c)
    if (m && !message.includes(m)) message = `${message}: ${m}`
    stack += `\ncaused by: ${c instanceof Error ? (c.stack ?? m) : m}`
  }
  const out = Object.create(Object.getPrototypeOf(e) as object) as Error
  Object.defineProperty(out, 'message', { value: message, enumerable: false, writable: true, configurable: true })
  Object.defineProperty(out, 'stack', { value: stack, enumerable: false, writable: true, configurable: true })
  Object.defineProperty(out, 'name', { value: e.name, enumerable: false, writable: true, configurable: true })
  const code = errorCode(e)
  if (code !== null) (out as { code?: string }).code = code
  if (e instanceof OutriggerError && e.details) (out as { details?: unknown }).details = e.details
  return out
}

function isSerialized(v: unknown): v is SerializedError {
  return v !== null && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string'
}

function safeString(v: unknown): string {
  try {
    return typeof v === 'object' ? JSON.stringify(v) : String(v)
  } catch {
    return String(v)
  }
}
