import { STATUS_CODES } from 'node:http'
import type { Envelope } from './envelope.js'

/**
 * An HTTP response written straight to a socket, for errors Node raises before a request object
 * exists (unparseable request, headers too slow). The connection is closed after it.
 */
export function rawErrorResponse(status: number, env: Envelope): string {
  const body = JSON.stringify(env)
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    `X-Request-Id: ${env.requestId}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  )
}
