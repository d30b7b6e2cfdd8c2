import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { fileURLToPath } from 'node:url'
import type { Supervisor } from '../supervisor/types.js'
import { HttpError, sendEnvelope } from './envelope.js'

/**
 * The dashboard's files, copied into `dist/dashboard/` by the build (the page, its script and
 * style, and the chart library from npm), so the page needs nothing from outside the package.
 */
const ASSETS_DIR = fileURLToPath(new URL('../../dashboard/', import.meta.url))

export const DASHBOARD_PATH = '/_dashboard'
const ASSET_PREFIX = `${DASHBOARD_PATH}/`

const TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'uPlot.iife.min.js': 'text/javascript; charset=utf-8',
  'uPlot.min.css': 'text/css; charset=utf-8',
}

/**
 * The page may talk to its own origin only, and may not be framed (clickjacking an action button).
 * uPlot sizes its elements through the style attribute, hence inline styles.
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
}

/**
 * The header every dashboard action must carry. A cross-site form cannot set a header, and a
 * cross-site script that sets one needs a CORS preflight this server never grants.
 */
export const ACTION_HEADER = 'x-outrigger-action'

/** `/_dashboard/<file>`: the file's name when it is one of the dashboard's own, else undefined. */
export function dashboardAsset(pathname: string): string | undefined {
  if (!pathname.startsWith(ASSET_PREFIX)) return undefined
  const name = pathname.slice(ASSET_PREFIX.length)
  return name !== 'index.html' && Object.hasOwn(TYPES, name) ? name : undefined
}

const cache = new Map<string, Buffer>()

/** Serves the page (`name` undefined) or one of its assets; the caller has run the auth slot. */
export async function sendDashboard(res: ServerResponse, name = 'index.html'): Promise<void> {
  let body = cache.get(name)
  if (body === undefined) {
    try {
      body = await readFile(ASSETS_DIR + name)
    } catch (err) {
      throw new HttpError(404, 'RIG_ERR_HTTP_NOT_FOUND', `the dashboard file ${name} is missing from this install (${(err as Error).message}); run npm run build`)
    }
    cache.set(name, body)
  }
  if (res.headersSent || res.writableEnded) return
  res.writeHead(200, { ...PAGE_HEADERS, 'content-type': TYPES[name]!, 'content-length': String(body.length) })
  res.end(body)
}
