/**
 * The `ctx` a worker plugin receives: the same shape as a core plugin's `PluginContext`, with
 * emit, call and log answered by the supervisor over the rpc bridge, and `ctx.state` a stand-in
 * for the host's own state object.
 */
import type { PluginContext, PluginLogger, StateApi } from '../src/plugin/types.js'
import type { WorkerSpec } from '../src/worker-protocol.js'
import type { RemoteCall } from '../src/rpc-link.js'
import type { CoordinationApi } from '../src/coordination/types.js'
import { errorCode, errorMessage } from '../src/errors.js'
import { EmitBatch } from './emit-batch.js'

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const

/** `ctx.state`'s methods, each called on the host's own state object under the same name. */
const STATE_METHODS: { [K in keyof StateApi]: true } = { putState: true, getState: true, deleteState: true, incrCounter: true, getCounter: true }

/**
 * `options.value` is what `ctx.options` reads, at each read: the runtime sets it to the options as
 * the plugin's schema reads them once it knows the schema (after a factory entry has run).
 */
export function buildContext(spec: WorkerSpec, bridge: RemoteCall, stateCall: RemoteCall, signal: AbortSignal, options: { value: unknown }, coordination: CoordinationApi): PluginContext {
  // Fire-and-forget calls have nobody to tell when they fail, so they say so on stderr.
  const oneWay = (method: string, args: unknown[]): void => {
    bridge(method, args).catch((err: Error) => {
      process.stderr.write(`[${spec.plugin}#${spec.instanceId}] ctx.${method} failed: ${err.message}\n`)
    })
  }
  const emits = new EmitBatch(bridge, (err) => process.stderr.write(`[${spec.plugin}#${spec.instanceId}] ctx.emit failed: ${err.message}\n`))
  // Every call to the host sends the emits gathered before it first: they arrive in that order.
  const state = Object.freeze(
    Object.fromEntries(
      Object.keys(STATE_METHODS).map((m) => [
        m,
        (...args: unknown[]) => {
          emits.flush()
          return stateCall(m, args)
        },
      ]),
    ),
  ) as unknown as StateApi
  return Object.freeze({
    name: spec.plugin,
    version: spec.version,
    get options() {
      return options.value
    },
    log: makeLogger(oneWay, {}),
    state,
    emit: (event: string, payload?: unknown) => emits.emit(event, payload),
    drained: () => emits.drained(),
    deadLetter: async (event: string, payload: unknown, reason: string | Error) => {
      emits.flush()
      const error = typeof reason === 'string' ? { code: null, message: reason } : { code: errorCode(reason), message: errorMessage(reason) }
      await bridge('deadLetter', [event, payload, error])
    },
    instance: Object.freeze({ id: spec.instanceId, count: spec.instanceCount ?? 1 }),
    call: <R>(target: string, args?: unknown) => {
      emits.flush()
      return bridge('call', [target, args]) as Promise<R>
    },
    rootPath: spec.rootPath,
    dataDir: spec.dataDir,
    signal,
    coordination,
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
