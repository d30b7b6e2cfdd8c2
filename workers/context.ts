/**
 * The `ctx` a worker plugin receives: the same shape as a core plugin's `PluginContext`, with
 * state, emit, call and log answered by the supervisor over the rpc bridge.
 */
import type { PluginContext, PluginLogger, StateApi } from '../src/plugin/types.js'
import type { WorkerSpec } from '../src/worker-protocol.js'
import type { RemoteCall } from '../src/rpc-link.js'

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const

export function buildContext(spec: WorkerSpec, bridge: RemoteCall, signal: AbortSignal): PluginContext {
  // Fire-and-forget calls have nobody to tell when they fail, so they say so on stderr.
  const oneWay = (method: string, args: unknown[]): void => {
    bridge(method, args).catch((err: Error) => {
      process.stderr.write(`[${spec.plugin}#${spec.instanceId}] ctx.${method} failed: ${err.message}\n`)
    })
  }
  const state: StateApi = {
    putState: (key, value) => bridge('state', ['put', key, value]).then(() => undefined),
    getState: <T>(key: string) => bridge('state', ['get', key]) as Promise<T | undefined>,
    deleteState: (key) => bridge('state', ['delete', key]).then(() => undefined),
    incrCounter: (key, amount = 1) => bridge('state', ['incr', key, amount]) as Promise<number>,
    getCounter: (key) => bridge('state', ['getCounter', key]) as Promise<number>,
  }
  return Object.freeze({
    name: spec.plugin,
    version: spec.version,
    options: spec.options,
    log: makeLogger(oneWay, {}),
    state,
    emit: (event: string, payload?: unknown) => oneWay('emit', [event, payload]),
    call: <R>(target: string, args?: unknown) => bridge('call', [target, args]) as Promise<R>,
    rootPath: spec.rootPath,
    dataDir: spec.dataDir,
    signal,
  })
}

function makeLogger(oneWay: (method: string, args: unknown[]) => void, bindings: Record<string, unknown>): PluginLogger {
  const bound = Object.keys(bindings).length > 0
  const logger = {
    child: (more: Record<string, unknown>) => makeLogger(oneWay, { ...bindings, ...more }),
  } as PluginLogger
  for (const level of LEVELS) {
    logger[level] = (obj: unknown, msg?: string) => {
      // pino's shapes: (msg), (obj, msg) or (err, msg); bindings merge into a plain object only.
      if (typeof obj === 'string' && msg === undefined) oneWay('log', [level, bound ? { ...bindings } : {}, obj])
      else if (bound && obj !== null && typeof obj === 'object' && !(obj instanceof Error)) oneWay('log', [level, { ...bindings, ...obj }, msg])
      else if (bound) oneWay('log', [level, { ...bindings, err: obj }, msg])
      else oneWay('log', [level, obj, msg])
    }
  }
  return logger
}
