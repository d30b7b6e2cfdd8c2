/**
 * A worker plugin's `source`, run in every instance once the plugin is ready. A source that
 * throws ends its instance on purpose: the restart policy (with its backoff and crash-loop
 * quarantine) brings it back, and the new instance resumes from what the source checkpointed in
 * `ctx.state`.
 */
import type { PluginContext, PluginDefinition } from '../src/plugin/types.js'
import { SourceRun } from '../src/plugin/source-run.js'

export function runSource(def: PluginDefinition, ctx: PluginContext): SourceRun | undefined {
  if (!def.source) return undefined
  const run = new SourceRun(def.source, ctx, (err) => {
    // Thrown outside any promise: the entry's uncaught-error path reports it and the instance exits.
    setImmediate(() => {
      throw err
    })
  })
  run.start()
  return run
}
