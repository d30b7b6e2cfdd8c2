import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { OutriggerError, errorMessage } from '../errors.js'
import type { PluginDefinition } from '../plugin/types.js'

const KEYS = ['hooks', 'pipes', 'controllers', 'functions', 'init', 'whenReady', 'close', 'options', 'provides']
const FN_MAPS = ['hooks', 'pipes', 'functions'] as const

/** Imports a core plugin's entry and checks the shape of what it exports, naming every mistake. */
export async function loadDefinition(dir: string, main: string): Promise<PluginDefinition> {
  const entry = path.resolve(dir, main)
  let mod: Record<string, unknown>
  try {
    mod = await import(pathToFileURL(entry).href)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const why = e.code === 'ERR_MODULE_NOT_FOUND' && errorMessage(err).includes(entry) ? `entry ${entry} does not exist (check "main" in manifest.json)` : `entry ${entry} failed to load: ${errorMessage(err)}`
    throw new OutriggerError('RIG_ERR_PLUGIN_LOAD', why, { cause: err, details: { entry } })
  }
  const def = (mod.default ?? mod.plugin) as PluginDefinition | undefined
  const problems = checkShape(def)
  if (problems.length) {
    throw new OutriggerError('RIG_ERR_PLUGIN_LOAD', `${entry}: ${problems.join('; ')} (export default definePlugin({ hooks, pipes, … }))`, { details: { entry, problems } })
  }
  return def!
}

export function checkShape(def: unknown): string[] {
  if (def === null || typeof def !== 'object') return ['exports no plugin definition as its default export']
  const d = def as Record<string, unknown>
  const problems: string[] = []
  for (const k of Object.keys(d)) if (!KEYS.includes(k)) problems.push(`unknown key "${k}" (allowed: ${KEYS.join(', ')})`)
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
  for (const k of ['init', 'whenReady', 'close']) if (d[k] !== undefined && typeof d[k] !== 'function') problems.push(`"${k}" must be a function`)
  if (d.options !== undefined && typeof (d.options as { safeParse?: unknown })?.safeParse !== 'function') problems.push('"options" must be a zod schema')
  return problems
}
