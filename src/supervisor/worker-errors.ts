/**
 * A worker plugin's last error, as its status row shows it: the newer of its last handler failure
 * and its instances' last error (an exit, an unresponsive instance…). Handler failures reach the
 * plugin from the dispatcher, the dead-letter store and the queues in front of it; the instance
 * set knows only its own errors, so the two are weighed here.
 */
import type { Bus } from '../bus/bus.js'
import { deserializeError, errorCode, errorMessage, type SerializedError } from '../errors.js'
import type { PluginStatus } from './status-types.js'

type LastError = PluginStatus['lastError']

export class WorkerErrors {
  /** The last handler failure, and the instances' last error when it happened. */
  private handler: { error: LastError; over: LastError } | undefined

  /** @param instanceError the instances' last error now. */
  constructor(private readonly instanceError: () => LastError) {}

  /** A final failure of one event: the bus logs it (one line) and tells `hook:onError`. */
  report(bus: Bus, plugin: string, event: string, error: unknown): void {
    // A handler's error arrives serialized from the worker: rebuilt, it logs and reads as an error.
    const err = error instanceof Error ? error : deserializeError(error as SerializedError)
    this.note({ code: errorCode(err), message: errorMessage(err) })
    bus.hookFailed(plugin, event, err)
  }

  note(error: NonNullable<LastError>): void {
    this.handler = { error, over: this.instanceError() }
  }

  /** An operator restart starts the plugin from a clean slate. */
  clear(): void {
    this.handler = undefined
  }

  get last(): LastError {
    const h = this.handler
    const over = this.instanceError()
    return h && h.over === over ? h.error : over
  }
}
