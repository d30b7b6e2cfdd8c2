/**
 * Runs an instance in a worker thread, through a piscina pool of exactly one thread.
 *
 * Batches, start and stop travel as piscina tasks; a MessagePort handed over in the start task
 * carries heartbeats and rpc, so they never wait behind a batch.
 */
import { fileURLToPath } from 'node:url'
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads'
import { Piscina } from 'piscina'
import { OutriggerError } from '../errors.js'
import type { HostToWorker, RanMsg, StartedMsg, StartFailedMsg, StoppedMsg, WireEvent, WorkerSpec } from '../protocol.js'
import { BaseInstance, isCloneError, notCloneable } from './instance.js'
import type { InstanceSpec, WorkerHost, WorkerInstance } from './worker-host.js'

const THREAD_ENTRY = fileURLToPath(new URL('../../workers/thread-entry.js', import.meta.url))
/** Batches posted ahead to the thread, so it never idles between two of them. */
const PIPELINE = 4

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

  constructor(spec: InstanceSpec) {
    super(spec)
    const { port1, port2 } = new MessageChannel()
    this.port = port1
    this.remotePort = port2
    port1.on('message', (msg) => this.onControl(msg))
    // An idle instance should not keep the supervisor alive on its own; piscina refs the thread
    // while a task runs, and pending pings and calls hold timers.
    port1.unref()
    this.pool = new Piscina({
      filename: THREAD_ENTRY,
      // minThreads 0: if the thread dies, piscina must not quietly start a replacement; the
      // supervisor decides about restarts, and it learns about the death through `exited`.
      minThreads: 0,
      maxThreads: 1,
      idleTimeout: Infinity,
      concurrentTasksPerWorker: PIPELINE,
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

  protected sendBatch(batch: WireEvent[]): Promise<RanMsg> {
    return this.pool.run({ code: 'run', id: 0, batch } satisfies HostToWorker).catch(
      (err: Error) => {
        if (isCloneError(err)) throw notCloneable('a payload in the batch', err)
        // Our task handler never throws, so a failed task means the thread is going down.
        throw new OutriggerError('RIG_ERR_WORKER_EXITED', `${this.label()} is going down: ${err.message}`, { cause: err })
      },
    )
  }

  protected sendControl(msg: HostToWorker): void {
    this.port.postMessage(msg)
  }

  protected requestStop(): Promise<StoppedMsg> {
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
    // 'error' comes before 'exit' for an uncaught error or ERR_WORKER_OUT_OF_MEMORY.
    worker.on('error', (err) => (this.exitCause ??= err))
    worker.once('exit', (code) => {
      this.port.close()
      void this.pool.destroy()
      // Ending the thread after a clean stop is terminate() too, which says 1: report the clean exit.
      this.markExited(this.released ? 0 : code, null)
    })
  }
}
