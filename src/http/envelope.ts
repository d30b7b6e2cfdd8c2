import type { ServerResponse } from 'node:http'

// The HTTP layer's own codes live with every other code, in src/errors.ts.
import { HttpErrorCodes, OutriggerError, type HttpErrorCode } from '../errors.js'
export { HttpErrorCodes, type HttpErrorCode }

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
  controller: string | null
  action: string | null
  result: unknown
}

/** A refusal decided by the HTTP layer, carrying the status it maps to. */
export class HttpError extends OutriggerError {
  override name = 'HttpError'
  constructor(
    readonly status: number,
    code: HttpErrorCode,
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
  target: { controller?: string; action?: string } = {},
): Envelope {
  return { requestId, status, error, controller: target.controller ?? null, action: target.action ?? null, result: null }
}

/**
 * Writes a JSON body. A result that cannot be serialised (a BigInt, a cycle) would otherwise
 * throw after the status line is chosen, so it is turned into a 500 envelope here instead.
 */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.writableEnded) return
  let text: string
  try {
    text = JSON.stringify(body)
  } catch (err) {
    const env = body as Partial<Envelope>
    status = 500
    text = JSON.stringify(
      errorEnvelope(
        env.requestId ?? '',
        500,
        { code: 'RIG_ERR_HTTP_RESULT_NOT_JSON', message: `the result cannot be sent as JSON: ${(err as Error).message}` },
        { controller: env.controller ?? undefined, action: env.action ?? undefined },
      ),
    )
  }
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
  })
  res.end(text)
}

export function sendEnvelope(res: ServerResponse, env: Envelope, headers: Record<string, string> = {}): void {
  sendJson(res, env.status, env, headers)
}
