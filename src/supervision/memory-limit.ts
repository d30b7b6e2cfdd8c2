import { OutriggerError } from '../errors.js'
import type { MemoryFigures, WorkerInstance } from '../hosts/worker-host.js'
import type { WorkerSettings } from '../manifest/schema.js'
import type { PluginLogger } from '../plugin/types.js'
import { roundFigures, type InstanceLife } from './instance-life.js'

/** What the memory limit needs from its instance set. */
export interface MemoryLimitOptions {
  plugin: string
  cfg: WorkerSettings
  log: PluginLogger
  /** The owner's `retire`: true when the instance holds no work and may go now. */
  retire(id: number): boolean
  noteError(error: unknown): void
}

/** `limits.memoryMb`: an instance past it is recycled, or ended when it overran it. */
export class MemoryLimit {
  constructor(private readonly opts: MemoryLimitOptions) {}

  /** A thread's own word, between heartbeats, that it is past its memory limit. */
  overLimit(l: InstanceLife, instance: WorkerInstance, memory: MemoryFigures, halted: boolean): void {
    if (l.instance !== instance) return
    l.beat = { eventLoopP99Ms: 0, ...l.beat, ...roundFigures(memory), at: Date.now() }
    if (halted) this.overran(l, instance, memory)
    else if (l.expected === undefined) this.recycle(l, instance, memory)
  }

  /**
   * An instance past its memory limit finishes (or gives back) its work before it goes: it takes
   * no new batches, and is stopped once its in-flight batches are answered.
   */
  recycle(l: InstanceLife, instance: WorkerInstance, memory: MemoryFigures): void {
    l.expected = 'recycle'
    const { plugin } = this.opts
    const { memoryMb, heapMb, externalMb } = roundFigures(memory)
    this.opts.log.warn(
      { plugin, instance: l.id, memoryMb, heapMb, externalMb },
      `plugin "${plugin}" instance ${l.id} uses ${memoryMb} MB (heap ${heapMb}, external ${externalMb}), over limits.memoryMb (${this.opts.cfg.limits.memoryMb}); recycling it`,
    )
    if (this.opts.retire(l.id)) void instance.stop()
  }

  /**
   * A thread that grew far past its limit (while it finished its work, or all at once) has stopped
   * running hooks. It is ended now, and the events it held are lost or redelivered, as after a
   * heap overflow; its exit is still a recycle, not a crash.
   */
  private overran(l: InstanceLife, instance: WorkerInstance, memory: MemoryFigures): void {
    if (l.expected !== 'stop') {
      l.expected = 'recycle'
      this.opts.retire(l.id)
      const { plugin } = this.opts
      const { memoryMb, heapMb, externalMb } = roundFigures(memory)
      const why = `plugin "${plugin}" instance ${l.id} reached ${memoryMb} MB (heap ${heapMb}, external ${externalMb}), far past limits.memoryMb (${this.opts.cfg.limits.memoryMb}), before it could finish its work; terminated it`
      this.opts.log.warn({ plugin, instance: l.id, memoryMb, heapMb, externalMb }, why)
      this.opts.noteError(new OutriggerError('RIG_ERR_WORKER_EXITED', why))
    }
    void instance.kill()
  }
}
