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

/** The operations the dashboard can ask for, as `POST /_/_plugins/<plugin>/<operation>`. */
export const OPERATIONS = ['restart'] as const
export type Operation = (typeof OPERATIONS)[number]

export function isOperation(s: string): s is Operation {
  return (OPERATIONS as readonly string[]).includes(s)
}

/**
 * An operator action on a plugin, through the same supervisor call the CLI's control socket makes.
 * The caller has run the auth slot; here the action header and the permission slot are checked.
 */
export async function runOperation(
  sup: Supervisor,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: { requestId: string; plugin: string; operation: Operation; user: unknown },
): Promise<void> {
  const { plugin, operation, requestId } = ctx
  if (req.method !== 'POST') {
    throw new HttpError(405, 'RIG_ERR_HTTP_METHOD_NOT_ALLOWED', `/_/_plugins/${plugin}/${operation} answers POST, not ${req.method}`, { allow: 'POST' })
  }
  if (req.headers[ACTION_HEADER] === undefined) {
    throw new HttpError(403, 'RIG_ERR_HTTP_FORBIDDEN', `operator actions need the ${ACTION_HEADER} header (the dashboard sends it; it keeps cross-site forms out)`)
  }
  const allowed = await sup.services.permission(ctx.user, { plugin: '_plugins', controller: plugin, action: operation })
  if (allowed !== true) throw new HttpError(403, 'RIG_ERR_HTTP_FORBIDDEN', `not allowed to ${operation} ${plugin}`)
  await sup.restartPlugin(plugin)
  sendEnvelope(res, { requestId, status: 200, error: null, controller: '_plugins', action: operation, result: { plugin, restarted: true } })
}
