/**
 * The answer of every controller action, whichever entry point asked (HTTP, `ctx.execute`, a
 * protocol plugin): one shape, so a client switches on the same fields everywhere.
 */
import { OutriggerError, type ErrorCode, type HttpErrorCode } from '../errors.js'

/** The stable error shape of every envelope: a code to switch on, a message for people. */
export interface EnvelopeError {
  code: string
  message: string
}

/** What every controller action, and every refusal, answers (DESIGN.md §5, Contract). */
export interface Envelope {
  requestId: string
  status: number
  error: EnvelopeError | null
  /** `<plugin>/<controller>`, as in Kuzzle; null when the request named none. */
  controller: string | null
  action: string | null
  result: unknown
}

/**
 * A refusal that already knows its status (the auth slot's 401, the permission slot's 403, a body
 * that is too large), with the headers an HTTP face should add. Faces subclass it.
 */
export class Refusal extends OutriggerError {
  override name = 'Refusal'
  constructor(
    readonly status: number,
    code: ErrorCode | HttpErrorCode,
    message: string,
    /** Extra response headers, e.g. `Allow` on a 405 or `WWW-Authenticate` on a 401. */
    readonly headers: Record<string, string> = {},
  ) {
    super(code, message)
  }
}

export function errorEnvelope(
  requestId: string,
  status: number,
  error: EnvelopeError,
  target: { controller?: string | null; action?: string | null } = {},
): Envelope {
  return { requestId, status, error, controller: target.controller ?? null, action: target.action ?? null, result: null }
}
