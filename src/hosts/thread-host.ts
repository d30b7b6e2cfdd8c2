/**
 * Runs an instance in a worker thread, through a piscina pool of exactly one thread.
 *
 * Start and stop travel as piscina tasks. A MessagePort handed over in the start task carries
 * the batches, heartbeats and rpc: a piscina task per batch (its task bookkeeping and the
 * round trip through its queue) cost about a tenth of the throughput to a no-op plugin.
 */
import { fileURLToPath } from 'node:url'
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads'
import { Piscina } from 'piscina'
import type { HostToWorker, RanMsg, StartedMsg, StartFailedMsg, StoppedMsg, WireEvent, WorkerSpec, WorkerToHost } from '../worker-protocol.js'
import { forwardOutput, stderrSink, stdoutSink } from '../services/log-output.js'
import { encodeBatch } from './batch-codec.js'
import { BaseInstance, isCloneError, notCloneable } from './instance.js'
import type { InstanceSpec, WorkerHost, WorkerInstance } from './worker-host.js'

const THREAD_ENTRY = fileURLToPath(new URL('../../workers/thread-entry.js', import.meta.url))

export const threadHost: WorkerHost = {
  async start(spec: InstanceSpec): Promise<WorkerInstance> {
    const instance = new ThreadInstance(spec)
    await instance.boot()
    return instance
  },
}

class ThreadInstance extends BaseInstance {
  readonly pid = process.pid
  threadId = 0
  private readonly pool: Piscina
  private readonly port: MessagePort
  private readonly remotePort: MessagePort
  private released = false
  /** Batches posted and not answered yet, by id. */
  private readonly runs = new Map<number, (msg: RanMsg) => void>()
  private nextRunId = 0
  private runWaiters: Array<() => void> = []

  constructor(spec: InstanceSpec) {
    super(spec)
    const { port1, port2 } = new MessageChannel()
    this.port = port1
    this.remotePort = port2
    port1.on('message', (msg: WorkerToHost) => (msg.code === 'ran' ? this.ran(msg) : this.onControl(msg)))
    // An idle instance should not keep the supervisor alive on its own: the port is held only
    // while batches are out (and piscina refs the thread during start and stop; pending pings
    // and calls hold timers).
    port1.unref()
    this.pool = new Piscina({
      filename: THREAD_ENTRY,
      // minThreads 0: if the thread dies, piscina must not quietly start a replacement; the
      // supervisor decides about restarts, and it learns about the death through `exited`.
      minThreads: 0,
      maxThreads: 1,
      idleTimeout: Infinity,
      // The default Atomics.wait() loop blocks the thread's event loop between tasks, which
      // would starve the control port: heartbeats and rpc would go unanswered while idle.
      atomics: 'disabled',
      recordTiming: false,
      resourceLimits: { maxOldGenerationSizeMb: spec.limits.memoryMb },
    })
    // Without a listener piscina would throw a worker error into the supervisor.
    this.pool.on('error', (err: Error) => (this.exitCause ??= err))
  }

  protected requestStart(spec: WorkerSpec): Promise<StartedMsg | StartFailedMsg> {
    const msg: HostToWorker = { code: 'start', spec, port: this.remotePort }
    const started = this.pool.run(msg, { transferList: [this.remotePort] })
    // piscina creates the thread inside run(): watch it from its first moment.
    const worker = this.pool.threads[0]
    if (worker) this.watch(worker)
    else this.markExited(null, null, new Error('piscina started no thread'))
    return started.catch((err) => {
      throw isCloneError(err) ? notCloneable(`the options of plugin "${spec.plugin}"`, err) : err
    })
  }

  protected sendBatch(batch: WireEvent[], seen: number): Promise<RanMsg> {
    return new Promise((resolve, reject) => {
      const id = this.nextRunId++
      try {
        this.port.postMessage({ code: 'run', id, batch: encodeBatch(batch), seen } satisfies HostToWorker)
      } catch (err) {
        // Cloning happens before anything is sent: the port and the thread are unharmed.
        return reject(isCloneError(err) ? notCloneable('a payload in the batch', err) : err)
      }
      if (this.runs.size === 0) this.port.ref()
      this.runs.set(id, resolve)
    })
  }

  private ran(msg: RanMsg): void {
    const run = this.runs.get(msg.id)
    if (!run) return this.protocolError(msg)
    this.runs.delete(msg.id)
    if (this.runs.size === 0) this.runsDone()
    run(msg)
  }

  private runsDone(): void {
    this.port.unref()
    for (const resolve of this.runWaiters.splice(0)) resolve()
  }

  protected sendControl(msg: HostToWorker): void {
    this.port.postMessage(msg)
  }

  protected async requestStop(): Promise<StoppedMsg> {
    // The stop task takes another channel than the batches: it must not overtake them.
    if (this.runs.size > 0) await new Promise<void>((resolve) => this.runWaiters.push(resolve))
    return this.pool.run({ code: 'stop' } satisfies HostToWorker)
  }

  protected release(): void {
    this.released = true
    void this.pool.destroy()
  }

  protected terminate(): void {
    void this.pool.destroy()
  }

  private watch(worker: Worker): void {
    this.threadId = worker.threadId
    // Node pipes a thread's console into the host's stdio, where a stalled reader would hold the
    // thread's output (and its memory) and a vanished one would leave it paused for good.
    forwardOutput(worker.stdout, stdoutSink(), process.stdout)
    forwardOutput(worker.stderr, stderrSink(), process.stderr)
    // 'error' comes before 'exit' for an uncaught error or ERR_WORKER_OUT_OF_MEMORY.
    worker.on('error', (err) => (this.exitCause ??= err))
    worker.once('exit', (code) => {
      // Batches still out are rejected by markExited; nothing waits on their answers any more.
      this.runs.clear()
      this.runsDone()
      this.port.close()
      void this.pool.destroy()
      // Ending the thread after a clean stop is terminate() too, which says 1: report the clean exit.
      this.markExited(this.released ? 0 : code, null)
    })
  }
}
