import { OutriggerError, errorCode, errorMessage } from '../errors.js'
import type { DeclaredKind } from '../manifest/load.js'
import type { Discovered } from '../manifest/discovery.js'
import type { Manifest } from '../manifest/schema.js'
import type { PluginHandle } from './plugin-handle.js'
import type { PluginStatus } from './status-types.js'

/**
 * A plugin that could not be loaded (bad manifest, missing entry, bad options…). It still shows
 * in the status report under its folder name, with state `failed` and its error, and as the kind
 * its manifest declares where that is readable (`declared`), even if the manifest failed.
 */
export class FailedPlugin implements PluginHandle {
  readonly type: 'core' | 'worker'
  constructor(
    readonly name: string,
    readonly error: unknown,
    private readonly manifest?: Manifest,
    private readonly shadowed: string[] = [],
    private readonly declared?: DeclaredKind,
    /** Where it was found, to read it again when an operator restarts it after a fix. */
    readonly found?: Discovered,
  ) {
    this.type = manifest?.type ?? declared?.type ?? 'core'
  }
  async start(): Promise<void> {}
  async ready(): Promise<void> {}
  async drain(): Promise<void> {}
  async close(): Promise<void> {}
  fail(): void {}
  async call(fn: string): Promise<unknown> {
    throw new OutriggerError('RIG_ERR_UNKNOWN_TARGET', `plugin "${this.name}" failed to load, so "${this.name}.${fn}" cannot run: ${errorMessage(this.error)}`)
  }
  status(): PluginStatus {
    const w = this.manifest?.worker
    return {
      name: this.name,
      version: this.manifest?.version ?? '',
      type: this.type,
      isolation: w ? w.isolation : this.type === 'worker' ? (this.declared?.isolation ?? 'thread') : 'inline',
      delivery: w ? w.delivery : 'at-most-once',
      state: 'failed',
      hooks: [],
      pipes: [],
      controllers: [],
      functions: [],
      shadowed: this.shadowed,
      restarts: 0,
      lastError: { code: errorCode(this.error), message: errorMessage(this.error) },
      queue: { depth: 0, max: w?.queue.max ?? 0, dropped: 0, rejected: 0 },
      events: { received: 0, processed: 0, failed: 0, inFlight: 0, redelivered: 0, recovered: 0, deadLettered: 0, lost: 0 },
      handlerMs: { p50: 0, p99: 0 },
      instances: [],
    }
  }
}
