import { OutriggerError } from '../src/errors.js'
import type { FunctionFn, PluginContext } from '../src/plugin/types.js'

/** Runs one of the plugin's `functions` by name; an unknown or inherited name is refused. */
export function callFunction(functions: Record<string, FunctionFn>, plugin: string, name: string, args: unknown, ctx: PluginContext): unknown {
  const fn = Object.hasOwn(functions, name) ? functions[name] : undefined
  if (typeof fn !== 'function') throw new OutriggerError('RIG_ERR_UNKNOWN_TARGET', `plugin "${plugin}" has no function "${name}"`)
  return fn(args, ctx)
}
