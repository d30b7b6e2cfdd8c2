/**
 * What makes an entry acceptable: a namespaced type the proposer owns, plain JSON args, at most
 * 64 KiB. Host-free: a worker checks its own proposals before they cross.
 */
import { OutriggerError } from '../errors.js'
import { isBuiltIn } from './builtin.js'

/** An entry's args may take at most this many bytes as JSON. */
export const MAX_ENTRY_BYTES = 64 * 1024

/** The plugin a type belongs to: what comes before its first `/`. */
export function ownerOf(type: string): string {
  const slash = type.indexOf('/')
  return slash > 0 ? type.slice(0, slash) : ''
}

/**
 * Checks that `plugin` may append an entry of `type` with `args`, and returns the args as plain
 * JSON (what every replica will see: `undefined` fields dropped, dates as strings).
 */
export function checkEntry(plugin: string, type: string, args: unknown): unknown {
  if (typeof type !== 'string' || ownerOf(type) !== plugin || type.length === plugin.length + 1 || isBuiltIn(type)) {
    throw new OutriggerError('RIG_ERR_COORD_ENTRY', `plugin "${plugin}": entry type "${String(type)}" is not one of its own: a plugin's entry types must begin with its name ("${plugin}/<type>"); built-in types are appended by the supervisor only`, { details: { plugin, type } })
  }
  let json: string | undefined
  try {
    json = JSON.stringify(args ?? null)
  } catch (err) {
    throw new OutriggerError('RIG_ERR_COORD_ENTRY', `plugin "${plugin}": the args of entry "${type}" are not plain JSON: ${(err as Error).message}`, { cause: err, details: { plugin, type } })
  }
  if (json === undefined) throw new OutriggerError('RIG_ERR_COORD_ENTRY', `plugin "${plugin}": the args of entry "${type}" are not plain JSON (a function or symbol)`, { details: { plugin, type } })
  const bytes = Buffer.byteLength(json)
  if (bytes > MAX_ENTRY_BYTES) {
    throw new OutriggerError('RIG_ERR_COORD_ENTRY_TOO_LARGE', `plugin "${plugin}": entry "${type}" takes ${bytes} bytes as JSON, over the ${MAX_ENTRY_BYTES}-byte limit: keep large data in ctx.state or a file and put its key in the entry`, { details: { plugin, type, bytes } })
  }
  return JSON.parse(json)
}

/**
 * The mistakes in a definition's `coordination` key, for plugin `plugin` (empty when none). Own
 * types may have all four points; built-in types only `reactions` and `sideEffects`.
 */
export function checkCoordination(plugin: string, map: unknown): string[] {
  if (map === undefined) return []
  if (map === null || typeof map !== 'object') return ['"coordination" must be an object of entry types ({ "<plugin>/<type>": { apply, diff, reactions, sideEffects } })']
  const problems: string[] = []
  for (const [type, h] of Object.entries(map)) {
    const builtIn = isBuiltIn(type)
    if (!builtIn && (ownerOf(type) !== plugin || type.length === plugin.length + 1)) {
      problems.push(`coordination["${type}"]: an entry type must begin with the plugin's own name ("${plugin}/<type>") or be a built-in type (plugin/*, instance/joined, instance/left)`)
      continue
    }
    if (h === null || typeof h !== 'object') {
      problems.push(`coordination["${type}"] must be an object of functions (apply, diff, reactions, sideEffects)`)
      continue
    }
    for (const [k, fn] of Object.entries(h)) {
      if (!['apply', 'diff', 'reactions', 'sideEffects'].includes(k)) problems.push(`coordination["${type}"]: unknown key "${k}" (allowed: apply, diff, reactions, sideEffects)`)
      else if (typeof fn !== 'function') problems.push(`coordination["${type}"].${k} must be a function`)
      else if (builtIn && (k === 'apply' || k === 'diff')) problems.push(`coordination["${type}"].${k}: the supervisor applies its built-in entries; a plugin may add only reactions and sideEffects to them`)
    }
  }
  return problems
}
