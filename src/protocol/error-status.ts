import { errorCode, errorMessage } from '../errors.js'
import { Refusal, type EnvelopeError } from './envelope.js'

/** How a thrown error becomes a status and the envelope's `error` (HTTP statuses, on every entry point). */
export interface MappedError {
  status: number
  error: EnvelopeError
  headers: Record<string, string>
}

/** Supervisor codes that mean "the client asked for something that is not there". */
const NOT_FOUND = new Set(['RIG_ERR_UNKNOWN_TARGET', 'RIG_ERR_UNKNOWN_PLUGIN', 'RIG_ERR_UNKNOWN_DEAD_LETTER', 'RIG_ERR_CLUSTER_REQUIRED'])
/** Supervisor codes that mean "the client's request is malformed". */
const BAD_REQUEST = new Set(['RIG_ERR_DEAD_LETTER_SELECTION', 'RIG_ERR_REQUEST_INVALID'])
/** Supervisor codes that mean "try again later", not "the server is broken". */
const UNAVAILABLE = new Set(['RIG_ERR_CLOSED', 'RIG_ERR_PIPE_BUSY', 'RIG_ERR_CLUSTER_UNREACHABLE'])
/** Supervisor codes that mean "it took too long". */
const TIMED_OUT = new Set(['RIG_ERR_PIPE_TIMEOUT', 'RIG_ERR_ACTION_TIMEOUT'])

export function mapError(err: unknown): MappedError {
  if (err instanceof Refusal) {
    return { status: err.status, error: { code: err.code, message: err.message }, headers: err.headers }
  }
  const code = errorCode(err) ?? undefined
  if (code !== undefined && NOT_FOUND.has(code)) return plain(404, code, errorMessage(err))
  if (code !== undefined && BAD_REQUEST.has(code)) return plain(400, code, errorMessage(err))
  if (code === 'RIG_ERR_PIPE_ABORTED') {
    // The supervisor wraps the listener's throw; the client wants the plugin's own words, and the
    // plugin may have picked the status (say 409 or 422) by putting it on the error it threw.
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause : undefined
    return plain(clientStatus(err) ?? 400, code, cause?.message ?? errorMessage(err))
  }
  if (code !== undefined && UNAVAILABLE.has(code)) return plain(503, code, errorMessage(err))
  if (code !== undefined && TIMED_OUT.has(code)) return plain(504, code, errorMessage(err))
  // A live change the plugin's current state does not allow (a reload under way, a fixed setting).
  if (code === 'RIG_ERR_RELOAD_REFUSED') return plain(409, code, errorMessage(err))
  const status = clientStatus(err)
  if (status !== undefined) return plain(status, code ?? statusCode(status), errorMessage(err))
  return plain(500, code ?? 'RIG_ERR_HTTP_INTERNAL', errorMessage(err))
}

function plain(status: number, code: string, message: string): MappedError {
  return { status, error: { code, message }, headers: {} }
}

/** A numeric 4xx `status` on the error or somewhere down its cause chain (errors cross IPC wrapped). */
export function clientStatus(err: unknown): number | undefined {
  let cur: unknown = err
  for (let depth = 0; depth < 5 && cur !== null && typeof cur === 'object'; depth++) {
    const s = (cur as { status?: unknown }).status
    if (typeof s === 'number' && Number.isInteger(s) && s >= 400 && s < 500) return s
    cur = (cur as { cause?: unknown }).cause
  }
  return undefined
}

function statusCode(status: number): string {
  if (status === 401) return 'RIG_ERR_HTTP_UNAUTHORIZED'
  if (status === 403) return 'RIG_ERR_HTTP_FORBIDDEN'
  if (status === 404) return 'RIG_ERR_HTTP_NOT_FOUND'
  return 'RIG_ERR_HTTP_BAD_REQUEST'
}
