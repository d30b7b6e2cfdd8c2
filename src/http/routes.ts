import type { ActionTarget } from '../supervisor/types.js'
import { dashboardAsset } from './dashboard.js'

/** The fixed routes of the API; controller actions live under {@link ACTION_PREFIX}, plugin operations under {@link PLUGIN_OPS_PREFIX}. */
export const BUILTIN_ROUTES = [
  { path: '/_health', methods: ['GET'], kind: 'health' },
  { path: '/_status', methods: ['GET'], kind: 'status' },
  { path: '/_info', methods: ['GET'], kind: 'info' },
  { path: '/metrics', methods: ['GET'], kind: 'metrics' },
  { path: '/_dashboard', methods: ['GET'], kind: 'dashboard' },
  { path: '/_events/status', methods: ['GET'], kind: 'status-events' },
  { path: '/_log', methods: ['GET'], kind: 'log' },
] as const

export type BuiltinKind = (typeof BUILTIN_ROUTES)[number]['kind']

export const ACTION_PREFIX = '/_/'
export const ACTION_METHODS = ['GET', 'POST'] as const

/**
 * Operations on a loaded plugin, beside the actions: `/_/_plugins/<plugin>/<op>`. A plugin name
 * never starts with `_`, so `_plugins` never shadows a plugin's actions.
 */
export const PLUGIN_OPS_PREFIX = '/_/_plugins/'
export const PLUGIN_OPERATIONS = [
  { op: 'dead-letters', methods: ['GET'] },
  { op: 'dead-letters/replay', methods: ['POST'] },
  { op: 'dead-letters/purge', methods: ['POST'] },
  { op: 'restart', methods: ['POST'] },
  { op: 'profile', methods: ['POST'] },
  { op: 'reload', methods: ['POST'] },
] as const

export type PluginOperation = (typeof PLUGIN_OPERATIONS)[number]['op']

export type RouteMatch =
  | { kind: BuiltinKind }
  | { kind: 'action'; target: ActionTarget }
  | { kind: 'operation'; plugin: string; op: PluginOperation }
  | { kind: 'dashboard-asset'; name: string }
  | { kind: 'not-found' }
  | { kind: 'method-not-allowed'; allow: readonly string[] }

/**
 * Resolves a method and path. Only the shape of an action path is checked here: whether that
 * plugin, controller and action exist is the supervisor's answer (404 through its error), so the
 * route table can never drift from what is loaded.
 */
export function matchRoute(method: string, pathname: string): RouteMatch {
  const builtin = BUILTIN_ROUTES.find((r) => r.path === pathname)
  if (builtin) {
    return (builtin.methods as readonly string[]).includes(method) ? { kind: builtin.kind } : { kind: 'method-not-allowed', allow: builtin.methods }
  }
  if (pathname.startsWith(PLUGIN_OPS_PREFIX)) return matchOperation(method, pathname.slice(PLUGIN_OPS_PREFIX.length))
  const asset = dashboardAsset(pathname)
  if (asset !== undefined) return method === 'GET' ? { kind: 'dashboard-asset', name: asset } : { kind: 'method-not-allowed', allow: ['GET'] }
  if (!pathname.startsWith(ACTION_PREFIX)) return { kind: 'not-found' }
  const parts = pathname.slice(ACTION_PREFIX.length).split('/')
  if (parts.length !== 3 || parts.some((p) => p === '')) return { kind: 'not-found' }
  let decoded: string[]
  try {
    decoded = parts.map((p) => decodeURIComponent(p))
  } catch {
    return { kind: 'not-found' }
  }
  if (!(ACTION_METHODS as readonly string[]).includes(method)) return { kind: 'method-not-allowed', allow: ACTION_METHODS }
  const [plugin, controller, action] = decoded as [string, string, string]
  return { kind: 'action', target: { plugin, controller, action } }
}

/** `<plugin>/<op>`: the plugin is the first segment, the operation the rest. */
function matchOperation(method: string, rest: string): RouteMatch {
  const slash = rest.indexOf('/')
  if (slash <= 0) return { kind: 'not-found' }
  let plugin: string
  try {
    plugin = decodeURIComponent(rest.slice(0, slash))
  } catch {
    return { kind: 'not-found' }
  }
  const found = PLUGIN_OPERATIONS.find((o) => o.op === rest.slice(slash + 1))
  if (!found) return { kind: 'not-found' }
  if (!(found.methods as readonly string[]).includes(method)) return { kind: 'method-not-allowed', allow: found.methods }
  return { kind: 'operation', plugin, op: found.op }
}

/** Every route, built-in, plugin operation (`:plugin` stands for a name) and action, as `/_info` lists it. */
export function listRoutes(actionRoutes: string[]): Array<{ methods: readonly string[]; path: string }> {
  return [
    ...BUILTIN_ROUTES.map((r) => ({ methods: r.methods, path: r.path })),
    ...PLUGIN_OPERATIONS.map((o) => ({ methods: o.methods, path: `${PLUGIN_OPS_PREFIX}:plugin/${o.op}` })),
    ...actionRoutes.map((r) => ({ methods: ACTION_METHODS, path: ACTION_PREFIX + r.split('/').map(encodeURIComponent).join('/') })),
  ]
}
