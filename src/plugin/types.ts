import type { ZodType } from 'zod'
import type { StateStore } from './state-store.js'
import type { Envelope } from '../protocol/envelope.js'
import type { ExecuteRequest } from '../protocol/execute.js'
import type { CoordinationApi, CoordinationMap } from '../coordination/types.js'

/** The logger a plugin sees: pino's call shapes (an object and/or a message). */
export interface PluginLogger {
  trace(obj: unknown, msg?: string): void
  debug(obj: unknown, msg?: string): void
  info(obj: unknown, msg?: string): void
  warn(obj: unknown, msg?: string): void
  error(obj: unknown, msg?: string): void
  fatal(obj: unknown, msg?: string): void
  child(bindings: Record<string, unknown>): PluginLogger
}

/** `ctx.state`: scoped to the plugin, kept by the supervisor (so it outlives worker restarts). */
export interface StateApi {
  putState(key: string, value: unknown): Promise<void>
  getState<T = unknown>(key: string): Promise<T | undefined>
  deleteState(key: string): Promise<void>
  /** Atomic; returns the new value. */
  incrCounter(key: string, amount?: number): Promise<number>
  /** 0 when unset. */
  getCounter(key: string): Promise<number>
}

/** What every hook, pipe, action, function and lifecycle step receives (same shape in workers). */
export interface PluginContext<Options = unknown> {
  readonly name: string
  readonly version: string
  readonly options: Options
  readonly log: PluginLogger
  readonly state: StateApi
  /**
   * Fire-and-forget; never waits for a listener. False when a worker plugin the event goes to
   * has its queue above its high-water mark: a source should then `await ctx.drained()`.
   */
  emit(event: string, payload?: unknown): boolean
  /** Resolves once every worker plugin this context fed is below its low-water mark. */
  drained(): Promise<void>
  /**
   * Keeps a record the plugin cannot handle (a malformed input line, say) among its dead letters,
   * where `outrigger dead-letters list <plugin>` shows it, and goes on.
   */
  deadLetter(event: string, payload: unknown, reason: string | Error): Promise<void>
  /** Which instance runs this code, of how many (a core plugin is instance 0 of 1). */
  readonly instance: { readonly id: number; readonly count: number }
  /** Calls `plugin.function` wherever it runs (core or worker). */
  call<R = unknown>(target: string, args?: unknown): Promise<R>
  /** The plugin's own folder. */
  readonly rootPath: string
  /** A writable folder of the plugin's own, under the state folder. */
  readonly dataDir: string
  /** Aborted when the supervisor (or this worker instance) shuts down. */
  readonly signal: AbortSignal
  /**
   * Core plugins only: runs a controller action on the same path as an HTTP request (auth and
   * permission slots, pipes, the action, hooks) and answers its envelope; never throws.
   */
  execute?(request: ExecuteRequest): Promise<Envelope>
  /** The coordination log: this plugin's replica, its own entries, side effects (docs/coordination.md). */
  readonly coordination: CoordinationApi
}

/** Which event fired and which of the plugin's subscriptions (maybe a wildcard) matched it. */
export interface HookMeta {
  event: string
  subscription: string
}

export type HookFn<O = any> = (payload: any, ctx: PluginContext<O>, meta: HookMeta) => unknown
export type PipeFn<O = any> = (payload: any, ctx: PluginContext<O>, meta: HookMeta) => unknown
export type FunctionFn<O = any> = (args: any, ctx: PluginContext<O>) => unknown
export type LifecycleFn<O = any> = (ctx: PluginContext<O>) => unknown

/** A request as a controller action sees it. */
export interface ActionRequest {
  requestId: string
  controller: string
  action: string
  body: unknown
  query: Record<string, string>
  headers: Record<string, string | string[] | undefined>
  user: unknown
  /** Aborted at `http.actionTimeoutMs`, once the caller got a 504: stop the work. Not enumerable. */
  readonly signal?: AbortSignal
}
export type ActionFn<O = any> = (request: ActionRequest, ctx: PluginContext<O>) => unknown

/** The supervisor's service slots (deepstream's idea): defaults built in, replaceable by a core plugin. */
export interface ServiceProviders {
  /** Given the default pino logger, returns the logger the supervisor and all plugins use. */
  logger?: (base: PluginLogger) => PluginLogger
  /** Returns the state store every plugin's `ctx.state` (and the dead letters) use. */
  storage?: (opts: { stateDir: string }) => StateStore | Promise<StateStore>
  /** Turns an HTTP request into a user, or throws an error with `status` 401 to refuse it. */
  auth?: (req: { headers: Record<string, string | string[] | undefined>; remoteAddress: string | undefined }) => unknown
  /** Allows (true) or denies (false) an action for a user. */
  permission?: (user: unknown, target: { plugin: string; controller: string; action: string }) => boolean | Promise<boolean>
}

export interface PluginDefinition<Options = any> {
  hooks?: Record<string, HookFn<Options>>
  pipes?: Record<string, PipeFn<Options>>
  controllers?: Record<string, Record<string, ActionFn<Options>>>
  functions?: Record<string, FunctionFn<Options>>
  init?: LifecycleFn<Options>
  whenReady?: LifecycleFn<Options>
  close?: LifecycleFn<Options>
  /** A zod schema; the operator's options are checked against it before `init`. */
  options?: ZodType<Options>
  /** Core plugins only: replacements for the supervisor's service slots. */
  provides?: ServiceProviders
  /** Entry types of the coordination log: `'<plugin>/<type>'` (all four points) or built-in ones (reactions, sideEffects). */
  coordination?: CoordinationMap
  /** Reads from outside and emits (see docs/plugins.md, "Sources"). */
  source?: SourceDef<Options>
  /** Batched writers of the events that match each pattern (see docs/plugins.md, "Sinks"). */
  sinks?: Record<string, SinkDef<Options>>
}

/**
 * A source: `start` runs in every instance once the plugin is ready, reads from outside and calls
 * `ctx.emit` until `ctx.signal` aborts; `stop` (optional) runs after that, before `close`.
 */
export interface SourceDef<O = any> {
  start(ctx: PluginContext<O>): unknown
  stop?(ctx: PluginContext<O>): unknown
}

/** One event as a sink's `write` receives it, in a batch. */
export interface SinkItem {
  event: string
  payload: any
}

/**
 * A sink: matching events are gathered into batches of up to `batch.max` events or `batch.maxWaitMs`
 * of waiting, and each batch is handed to `write`. A throw fails the whole batch, which is then
 * retried (or not) under the plugin's delivery guarantee.
 */
export interface SinkDef<O = any> {
  write(batch: SinkItem[], ctx: PluginContext<O>): unknown
  batch?: { max?: number; maxWaitMs?: number }
}

/** Identity at run time; gives a plugin author full types for hooks, ctx and options. */
/**
 * A factory entry: `export default (ctx) => definition`. It is called once per worker instance,
 * so each instance gets fresh state, and once for a core plugin (which may then not `provide` a
 * service slot: slots are chosen before factories run). `ctx.options` holds the configured options as they are
 * while the factory runs, and the ones read through the returned `options` schema from `init` on.
 */
export type PluginFactory<Options = any> = (ctx: PluginContext<Options>) => PluginDefinition<Options> | Promise<PluginDefinition<Options>>

export function definePlugin<Options = unknown>(def: PluginDefinition<Options>): PluginDefinition<Options> {
  return def
}
