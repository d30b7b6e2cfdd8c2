import type { IncomingMessage } from 'node:http'
import { HttpError } from './envelope.js'

/**
 * Reads a JSON body of at most `maxBytes`. An announced `content-length` over the limit is refused
 * before a byte is read; a chunked body is counted as it arrives and reading stops at the first
 * byte over, so an oversized upload never sits in memory. An empty body is `null`.
 */
export function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const announced = Number(req.headers['content-length'])
  if (Number.isFinite(announced) && announced > maxBytes) return Promise.reject(tooLarge(maxBytes))
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const cleanup = (): void => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('close', onClose)
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size > maxBytes) {
        cleanup()
        // Stop pulling: what the client still sends is discarded by the server when the answer is
        // out, and the connection is closed rather than reused (the server sets Connection: close).
        req.pause()
        chunks.length = 0
        reject(tooLarge(maxBytes))
        return
      }
      chunks.push(chunk)
    }
    const onEnd = (): void => {
      cleanup()
      try {
        resolve(parse(Buffer.concat(chunks, size)))
      } catch (err) {
        reject(err)
      }
    }
    const onError = (err: Error): void => {
      cleanup()
      reject(err)
    }
    // A client that goes away mid-body (or is cut by the request timeout) must not leave us waiting.
    const onClose = (): void => {
      cleanup()
      reject(new Error('the client closed the connection before sending the whole body'))
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
    req.on('close', onClose)
  })
}

function parse(buf: Buffer): unknown {
  const text = buf.toString('utf8')
  if (text.trim() === '') return null
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new HttpError(400, 'RIG_ERR_HTTP_MALFORMED_JSON', `the request body is not valid JSON: ${(err as Error).message}`)
  }
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, 'RIG_ERR_HTTP_BODY_TOO_LARGE', `the request body is larger than ${maxBytes} bytes (http.maxBodyBytes)`, {
    connection: 'close',
  })
}
