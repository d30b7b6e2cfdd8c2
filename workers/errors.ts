/**
 * Errors on the worker side of the boundary. The runtime imports nothing but types from `src/`,
 * so it carries its own copy of the (small) wire format; the host turns `code`d errors back
 * into `OutriggerError`s.
 */
import type { SerializedError } from '../src/errors.js'

/** An error with a `RIG_ERR_*` code, raised by the runtime itself. */
export class CodedError extends Error {
  override name = 'OutriggerError'
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

export function toWire(err: unknown, depth = 0): SerializedError {
  if (err instanceof Error) {
    const out: SerializedError = { name: err.name, message: err.message, stack: err.stack }
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string') out.code = code
    if (err.cause !== undefined && depth < 4) out.cause = toWire(err.cause, depth + 1)
    return out
  }
  let message: string
  try {
    message = typeof err === 'string' ? err : JSON.stringify(err) ?? String(err)
  } catch {
    message = String(err)
  }
  return { name: 'Error', message }
}

export function fromWire(s: SerializedError): Error {
  const err = new Error(s.message, s.cause ? { cause: fromWire(s.cause) } : undefined)
  err.name = s.name
  if (s.code) (err as { code?: string }).code = s.code
  if (s.stack) err.stack = s.stack
  return err
}
