/**
 * What a plugin's entry must export, checked in one place. The host loader (core plugins), the
 * worker runtime (worker plugins) and `outrigger validate` all use this file, so the three agree
 * on what a plugin is. It has no host dependencies: the worker runtime imports it too.
 */
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { OutriggerError, errorMessage } from '../errors.js'
import { describeIssues } from '../manifest/issues.js'
import { describeImportError } from './import-error.js'
import { checkCoordination } from '../coordination/entry.js'
import { checkIo } from './io-shape.js'
import type { PluginContext, PluginDefinition, PluginFactory } from './types.js'

/** Every key a definition may have. */
export const DEFINITION_KEYS = ['hooks', 'pipes', 'controllers', 'functions', 'init', 'whenReady', 'close', 'options', 'provides', 'source', 'sinks', 'coordination'] as const
/** Keys only a core plugin may fill: a worker's events arrive asynchronously and it runs no slot. */
export const CORE_ONLY_KEYS = ['pipes', 'controllers', 'provides'] as const

const FN_MAPS = ['hooks', 'pipes', 'functions'] as const
const LIFECYCLE = ['init', 'whenReady', 'close'] as const

/** The definition a module exports: its default export, or a named `plugin`. */
export function definitionOf(mod: Record<string, unknown>): unknown {
  return mod.default ?? mod.plugin
}

/** Every mistake in what an entry exports, for a plugin of `type`; empty when it is a plugin. */
export function checkShape(def: unknown, type: 'core' | 'worker', name?: string): string[] {
  // A factory: what it returns is checked, with this same function, each time it is called.
  if (typeof def === 'function') return []
  if (def === null || typeof def !== 'object') return ['exports no plugin definition as its default export']
  const d = def as Record<string, unknown>
  const problems: string[] = []
  for (const k of Object.keys(d)) if (!(DEFINITION_KEYS as readonly string[]).includes(k)) problems.push(`unknown key "${k}" (allowed: ${DEFINITION_KEYS.join(', ')})`)
  for (const k of FN_MAPS) {
    const m = d[k]
    if (m === undefined) continue
    if (m === null || typeof m !== 'object') problems.push(`"${k}" must be an object of functions`)
    else for (const [name, fn] of Object.entries(m)) if (typeof fn !== 'function') problems.push(`${k}["${name}"] must be a function (found ${typeof fn})`)
  }
  if (d.controllers !== undefined) {
    if (d.controllers === null || typeof d.controllers !== 'object') problems.push('"controllers" must be an object of controllers')
    else
      for (const [c, actions] of Object.entries(d.controllers as object)) {
        if (actions === null || typeof actions !== 'object') problems.push(`controllers["${c}"] must be an object of actions`)
        else for (const [a, fn] of Object.entries(actions)) if (typeof fn !== 'function') problems.push(`controllers["${c}"]["${a}"] must be a function`)
      }
  }
  for (const k of LIFECYCLE) if (d[k] !== undefined && typeof d[k] !== 'function') problems.push(`"${k}" must be a function`)
  if (d.options !== undefined && typeof (d.options as { safeParse?: unknown })?.safeParse !== 'function') problems.push('"options" must be a zod schema')
  // Without the name (a bare shape check) an entry type's namespace cannot be checked: "?" owns none.
  problems.push(...checkCoordination(name ?? '?', d.coordination).filter((p) => name !== undefined || !p.includes('must begin with')))
  problems.push(...checkIo(d))
  if (type === 'worker') {
    const refused = coreOnlyIn(d)
    if (refused.length) problems.push(workerRefusal(refused))
  }
  return problems
}

/** The core-only keys a definition fills (an empty object is no use of a key, so it passes). */
export function coreOnlyIn(def: Record<string, unknown>): string[] {
  return CORE_ONLY_KEYS.filter((k) => def[k] !== undefined && def[k] !== null && Object.keys(def[k] as object).length > 0)
}

function workerRefusal(keys: string[]): string {
  return `a worker plugin defines ${keys.join(' and ')}, which only core plugins may: move them to a core plugin or set "type": "core"`
}

/**
 * Imports an entry and checks what it exports: RIG_ERR_PLUGIN_LOAD when it cannot be imported or
 * is no plugin, RIG_ERR_WORKER_DEFINITION when a worker plugin fills core-only keys. A factory
 * (`export default (ctx) => definition`) comes back as it is, to be called with `fromFactory`.
 */
export async function importEntry(entry: string, type: 'core' | 'worker', plugin: string, fresh?: string): Promise<PluginDefinition | PluginFactory> {
  let mod: Record<string, unknown>
  try {
    // `fresh` (a live reload of a core plugin): a new URL is a new module, not the cached one.
    const url = pathToFileURL(path.resolve(entry))
    if (fresh) url.searchParams.set('reload', fresh)
    mod = await import(url.href)
  } catch (err) {
    throw await importFailure(entry, plugin, err)
  }
  const def = definitionOf(mod)
  return typeof def === 'function' ? (def as PluginFactory) : checked(def, type, plugin, entry)
}

/** Calls a factory entry with the instance's `ctx` and checks the definition it returns. */
export async function fromFactory(factory: PluginFactory, ctx: PluginContext, type: 'core' | 'worker', plugin: string, entry: string): Promise<PluginDefinition> {
  let def: unknown
  try {
    def = await factory(ctx)
  } catch (err) {
    throw new OutriggerError('RIG_ERR_PLUGIN_LOAD', `plugin "${plugin}": the factory that ${entry} exports threw: ${errorMessage(err)}`, { cause: err, details: { entry } })
  }
  if (typeof def === 'function') throw new OutriggerError('RIG_ERR_PLUGIN_LOAD', `plugin "${plugin}": the factory that ${entry} exports returned a function, not a plugin definition`, { details: { entry } })
  return checked(def, type, plugin, `${entry} (its factory's result)`)
}

async function importFailure(entry: string, plugin: string, err: unknown): Promise<OutriggerError> {
  const e = err as NodeJS.ErrnoException
  const why = e.code === 'ERR_MODULE_NOT_FOUND' && errorMessage(err).includes(entry) ? `entry ${entry} does not exist (check "main" in manifest.json)` : `entry ${entry} failed to load: ${await describeImportError(entry, err)}`
  return new OutriggerError('RIG_ERR_PLUGIN_LOAD', `plugin "${plugin}": ${why}`, { cause: err, details: { entry } })
}

/** RIG_ERR_WORKER_DEFINITION for core-only keys in a worker, RIG_ERR_PLUGIN_LOAD for any other mistake. */
function checked(def: unknown, type: 'core' | 'worker', plugin: string, entry: string): PluginDefinition {
  if (type === 'worker' && def !== null && typeof def === 'object') {
    const refused = coreOnlyIn(def as Record<string, unknown>)
    if (refused.length) throw new OutriggerError('RIG_ERR_WORKER_DEFINITION', `plugin "${plugin}": ${workerRefusal(refused)}`, { details: { entry } })
  }
  const problems = typeof def === 'function' ? ['exports a factory, where a plugin definition is expected'] : checkShape(def, type, plugin)
  if (problems.length) {
    throw new OutriggerError('RIG_ERR_PLUGIN_LOAD', `plugin "${plugin}": ${entry}: ${problems.join('; ')} (export default definePlugin({ hooks, functions, … }))`, { details: { entry, problems } })
  }
  return def as PluginDefinition
}

/**
 * A plugin's options after its own zod schema (defaults filled in), or RIG_ERR_OPTIONS_INVALID
 * naming each bad field. The host runs it for a core plugin, the worker runtime for a worker
 * plugin, before `init` in both.
 */
export function checkOptions(def: PluginDefinition, raw: unknown, name: string): unknown {
  if (!def.options) return raw ?? {}
  const parsed = def.options.safeParse(raw ?? {})
  if (parsed.success) return parsed.data
  throw new OutriggerError('RIG_ERR_OPTIONS_INVALID', `config: plugins.${name}.options: ${describeIssues(parsed.error, raw ?? {}).join('; ')}`, { details: { plugin: name } })
}
