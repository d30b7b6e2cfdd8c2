/**
 * Runs an instance in a child process (`fork`, `serialization: 'advanced'`, i.e. structured
 * clone). All traffic shares the IPC channel; the child runs batches through its own queue and
 * answers control messages (ping, rpc) as they come, so a busy async hook does not delay them.
 */
import { fork, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type {
  HostToWorker, RanMsg, StartedMsg, StartFailedMsg, StoppedMsg, WireEvent, WorkerSpec, WorkerToHost,
} from '../worker-protocol.js'
import { forwardOutput, stderrSink, stdoutSink } from '../services/log-output.js'
import { encodeBatch } from './batch-codec.js'
import { BaseInstance, isCloneError, notCloneable } from './instance.js'
import { permissionFlags, quietFlags } from './permission-flags.js'
import type { InstanceSpec, WorkerHost, WorkerInstance } from './worker-host.js'

const PROCESS_ENTRY = fileURLToPath(new URL('../../workers/process-entry.js', import.meta.url))

export const processHost: WorkerHost = {
  async start(spec: InstanceSpec): Promise<WorkerInstance> {
    const instance = new ProcessInstance(spec)
    await instance.boot()
    return instance
  },
}

function confined(spec: InstanceSpec): string[] {
  if (!spec.permissions) return []
  // Absolute: Node 20 takes no relative path, and ctx.dataDir is checked as the plugin writes it.
  return [...permissionFlags(spec.permissions, { rootPath: spec.rootPath, dataDir: path.resolve(spec.dataDir) }), ...quietFlags()]
}

interface Waiter<T> {
  resolve(v: T): void
  reject(err: Error): void
}

class ProcessInstance extends BaseInstance {
  readonly threadId = 0
  readonly pid: number
  private readonly child: ChildProcess
  private readonly runs = new Map<number, Waiter<RanMsg>>()
  private nextRunId = 1
  private startWaiter: Waiter<StartedMsg | StartFailedMsg> | undefined
  private stopWaiter: Waiter<StoppedMsg> | undefined

  constructor(spec: InstanceSpec) {
    super(spec)
    this.child = fork(PROCESS_ENTRY, [], {
      serialization: 'advanced',
      // Not inherited: the host reads what the child prints and passes it on through its bounded
      // sinks, so a stalled or vanished reader of the host's output never blocks or kills a child.
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // Not the supervisor's own flags (a test runner's or an inspector's would misbehave here).
      // Under worker.permissions, Node's permission model confines the child (permission-flags.ts).
      execArgv: [`--max-old-space-size=${spec.limits.memoryMb}`, ...confined(spec)],
    })
    this.pid = this.child.pid ?? 0
    forwardOutput(this.child.stdout, stdoutSink())
    forwardOutput(this.child.stderr, stderrSink())
    this.child.on('message', (msg: WorkerToHost) => this.onMessage(msg))
    // Spawn failures and sends on a closed channel land here; 'close' follows.
    this.child.on('error', (err) => (this.exitCause ??= err))
    this.child.once('exit', (code, signal) => this.onExit(code, signal))
  }

  /**
   * Replies the child sent just before it died may still sit in the IPC pipe when 'exit' fires;
   * waiting for the channel's end ('disconnect') keeps them from being counted as lost. ('close'
   * would wait too, but it never fires once the host has disconnected the channel itself.)
   */
  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    let timer: NodeJS.Timeout | undefined
    const done = (): void => {
      clearTimeout(timer)
      this.runs.clear()
      this.markExited(code, signal)
    }
    if (!this.child.connected) return done()
    timer = setTimeout(done, 200)
    this.child.once('disconnect', done)
  }

  protected requestStart(spec: WorkerSpec): Promise<StartedMsg | StartFailedMsg> {
    return new Promise((resolve, reject) => {
      this.startWaiter = { resolve, reject }
      this.send({ code: 'start', spec }, `the options of plugin "${spec.plugin}"`)
    })
  }

  protected sendBatch(batch: WireEvent[], seen: number): Promise<RanMsg> {
    return new Promise((resolve, reject) => {
      const id = this.nextRunId++
      try {
        this.send({ code: 'run', id, batch: encodeBatch(batch), seen }, 'a payload in the batch')
      } catch (err) {
        return reject(err)
      }
      this.runs.set(id, { resolve, reject })
    })
  }

  protected sendControl(msg: HostToWorker): void {
    this.send(msg, 'an rpc argument')
  }

  protected requestStop(): Promise<StoppedMsg> {
    return new Promise((resolve, reject) => {
      this.stopWaiter = { resolve, reject }
      this.send({ code: 'stop' }, 'stop')
    })
  }

  protected release(): void {
    // The child exits by itself after `stopped`; closing the channel makes sure of it.
    if (this.child.connected) this.child.disconnect()
  }

  protected terminate(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL')
  }

  private send(msg: HostToWorker, what: string): void {
    if (!this.child.connected) return // the 'close' handler is about to reject everything
    try {
      this.child.send(msg)
    } catch (err) {
      // The message is serialized before anything is written, so the channel is unharmed.
      throw isCloneError(err) ? notCloneable(what, err) : err
    }
  }

  private onMessage(msg: WorkerToHost): void {
    switch (msg.code) {
      case 'ran': {
        const run = this.runs.get(msg.id)
        if (!run) return this.protocolError(msg)
        this.runs.delete(msg.id)
        return run.resolve(msg)
      }
      case 'started':
      case 'start-failed':
        if (!this.startWaiter) return this.protocolError(msg)
        this.startWaiter.resolve(msg)
        this.startWaiter = undefined
        return
      case 'stopped':
        if (!this.stopWaiter) return this.protocolError(msg)
        this.stopWaiter.resolve(msg)
        this.stopWaiter = undefined
        return
      default:
        this.onControl(msg)
    }
  }
}
