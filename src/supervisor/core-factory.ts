import { OutriggerError } from '../errors.js'
import { checkOptions, fromFactory } from '../plugin/definition.js'
import { entryOf, type Loaded } from '../plugin/load-plugins.js'
import { coreContext } from './context.js'
import type { SupervisorRuntime } from './plugin-handle.js'

/**
 * Calls a core factory entry, once, with the plugin's ctx, and checks what it returns and the
 * options against the schema it brings. Service slots were chosen before any factory ran, so a
 * factory's definition may not provide one.
 */
export async function coreFromFactory(rt: SupervisorRuntime, l: Extract<Loaded, { kind: 'core-factory' }>): Promise<Loaded> {
  const { found } = l
  const m = found.manifest!
  try {
    const ctx = coreContext(rt, m.name, m.version, found.dir, l.options ?? {})
    const def = await fromFactory(l.factory, ctx, 'core', m.name, entryOf(found))
    if (def.provides && Object.keys(def.provides).length > 0) {
      throw new OutriggerError('RIG_ERR_PLUGIN_LOAD', `plugin "${m.name}": a factory entry cannot provide service slots (they are chosen before factories run): export the definition itself, not a factory`)
    }
    ;(ctx as { options: unknown }).options = checkOptions(def, l.options, m.name)
    return { kind: 'core', found, def, options: ctx.options, ctx }
  } catch (error) {
    return { kind: 'failed', found, error }
  }
}
