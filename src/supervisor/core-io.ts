/**
 * A core plugin's source and sinks, in the host's event loop. The source starts once the plugin
 * is ready and stops when the supervisor drains; a sink's batches are written one after the
 * other (a file sink keeps its order), each write named as the plugin's. Core plugins deliver at
 * most once: a write that throws fails its batch (counted, and told on `hook:onError`).
 */
import { errorMessage, forLog } from '../errors.js'
import { SinkBatcher, type SinkCounters } from '../delivery/sink-batcher.js'
import { sinkBatch, sinkSubscription } from '../plugin/io-shape.js'
import { SourceRun } from '../plugin/source-run.js'
import type { PluginContext, PluginDefinition, SinkItem } from '../plugin/types.js'
import { asPlugin, outside, type Culprit } from '../supervision/blame.js'
import type { SupervisorRuntime } from './plugin-handle.js'
import type { PluginStatus } from './status-types.js'

export class CoreIo {
  private source: SourceRun | undefined
  private readonly sinks: Array<{ batcher: SinkBatcher; writing: Promise<void> }> = []

  constructor(
    private readonly name: string,
    private readonly def: PluginDefinition,
    private readonly ctx: PluginContext,
    private readonly rt: SupervisorRuntime,
    private readonly culprit: Culprit | undefined,
    /** The source failed: the plugin fails with this error. */
    private readonly failed: (err: unknown) => void,
  ) {}

  /** Puts the sinks on the bus. */
  register(): void {
    for (const [pattern, sink] of Object.entries(this.def.sinks ?? {})) {
      const { max, maxWaitMs } = sinkBatch(sink)
      const entry = { batcher: undefined as unknown as SinkBatcher, writing: Promise.resolve() }
      entry.batcher = new SinkBatcher(pattern, max, maxWaitMs, (batch) => {
        entry.writing = entry.writing.then(() => this.write(entry.batcher, sink.write, batch))
      })
      this.sinks.push(entry)
      this.rt.bus.hooks.add({ plugin: this.name, pattern, deliver: (event, payload) => entry.batcher.add(event, payload) })
    }
  }

  private async write(batcher: SinkBatcher, write: (batch: SinkItem[], ctx: PluginContext) => unknown, batch: SinkItem[]): Promise<void> {
    try {
      await asPlugin(this.culprit, write, batch, this.ctx)
      batcher.settled('processed', 1)
    } catch (err) {
      batcher.settled('failed', 1)
      outside(() => this.rt.bus.hookFailed(this.name, sinkSubscription(batcher.pattern), err))
    }
  }

  startSource(): void {
    if (!this.def.source || this.source) return
    this.source = new SourceRun(this.def.source, this.ctx, (err) => {
      this.rt.log.error({ plugin: this.name, err: forLog(err) }, errorMessage(err))
      this.failed(err)
    })
    this.source.start()
  }

  /** At the drain: the source stops, then each sink writes what it gathered (by the deadline). */
  async stop(deadline: number): Promise<void> {
    await this.source?.stop(Math.max(0, deadline - Date.now()))
    for (const s of this.sinks) s.batcher.close()
    await Promise.all(this.sinks.map((s) => s.writing))
  }

  withSinks(row: PluginStatus): PluginStatus {
    if (this.sinks.length === 0) return row
    const sinks: Record<string, SinkCounters> = Object.fromEntries(this.sinks.map((s) => [s.batcher.pattern, { ...s.batcher.counters }]))
    return { ...row, sinks }
  }
}
