import type { ServerResponse } from 'node:http'

// The HTTP layer's own codes live with every other code, in src/errors.ts.
import { HttpErrorCodes, type HttpErrorCode } from '../errors.js'
import { Refusal, errorEnvelope, type Envelope } from '../protocol/envelope.js'
export { HttpErrorCodes, type HttpErrorCode }
// The envelope is every entry point's (src/protocol/); HTTP re-exports it for its importers.
export { errorEnvelope, type Envelope, type EnvelopeError } from '../protocol/envelope.js'

/** A refusal decided by the HTTP layer, carrying the status it maps to. */
export class HttpError extends Refusal {
  override name = 'HttpError'
  constructor(status: number, code: HttpErrorCode, message: string, headers: Record<string, string> = {}) {
    super(status, code, message, headers)
  }
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
