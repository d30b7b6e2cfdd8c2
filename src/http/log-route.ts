/** `GET /_log?from=SEQ[&type=GLOB][&limit=N]`: a page of the coordination log, as `outrigger log tail` reads it. */
import type { ServerResponse } from 'node:http'
import { MAX_PAGE, readPage } from '../coordination/read.js'
import type { Supervisor } from '../supervisor/types.js'
import { HttpError, sendJson } from './envelope.js'

export async function sendLog(sup: Supervisor, query: URLSearchParams, res: ServerResponse): Promise<void> {
  const from = intParam(query, 'from', 0)
  const limit = intParam(query, 'limit', 1)
  const type = query.get('type') ?? undefined
  const page = await readPage(sup.coordination.log, { from, limit: limit ?? (from === undefined ? 100 : MAX_PAGE), type })
  sendJson(res, 200, page, { 'cache-control': 'no-store' })
}

function intParam(query: URLSearchParams, name: string, min: number): number | undefined {
  const raw = query.get(name)
  if (raw === null) return undefined
  const n = Number(raw)
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || (name === 'limit' && n > MAX_PAGE)) {
    throw new HttpError(400, 'RIG_ERR_HTTP_BAD_REQUEST', `GET /_log: ${name} must be a whole number${name === 'limit' ? ` from 1 to ${MAX_PAGE}` : ''}, got "${raw}"`)
  }
  return n
}
