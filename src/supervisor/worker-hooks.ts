/**
 * What a worker plugin offers the host: its hooks on the bus (its sinks with them, through
 * worker-io.ts) and the functions it can be called on. The host never imports a worker plugin's
 * code, so these lists come only from the instances' handshakes, and every new instance brings its
 * own: after a restart it may run newer code. The newest instance's lists win, and the bus
 * follows them when they change. Kept apart from the plugin handle, which runs the instances and
 * the books.
 */
import type { Bus, HookTarget } from '../bus/bus.js'
import { OutriggerError } from '../errors.js'
import type { WorkerInstance } from '../hosts/worker-host.js'
import { sameList, type WorkerIo } from './worker-io.js'

export class WorkerHooks {
  hooks: string[] = []
  functions: string[] = []
  private registered = false
  private rr = 0

  /**
   * @param deliver the bus target of one hook pattern: built once per pattern when it is
   * registered, then called for every event of it.
   */
  constructor(
    private readonly plugin: string,
    private readonly io: WorkerIo,
    private readonly deliver: (pattern: string) => HookTarget['deliver'],
  ) {}

  /** `instance` is the newest one up: its lists win, and the bus follows them when they changed. */
  register(bus: Bus, instance: WorkerInstance): void {
    const { hooks, functions, sinks } = instance.info
    this.functions = functions
    if (this.registered && sameList(hooks, this.hooks) && this.io.same(sinks)) return
    if (this.registered) bus.hooks.removePlugin(this.plugin)
    this.registered = true
    this.hooks = hooks
    for (const pattern of hooks) bus.hooks.add({ plugin: this.plugin, pattern, deliver: this.deliver(pattern) })
    this.io.register(bus, sinks)
  }

  /** The supervisor took the hooks off the bus: the next instance up (a restart) puts them back. */
  dropped(): void {
    this.registered = false
  }

  /** The instance of `live` to call `fn` on, each in turn; throws when the plugin has no such function. */
  callee(fn: string, live: WorkerInstance[]): WorkerInstance {
    if (this.functions.length && !this.functions.includes(fn)) {
      throw new OutriggerError('RIG_ERR_UNKNOWN_TARGET', `plugin "${this.plugin}" has no function "${fn}" (it has: ${this.functions.join(', ')})`)
    }
    return live[this.rr++ % live.length]
  }
}
