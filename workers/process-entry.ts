/**
 * The main module of a child-process instance: wires the runtime to the IPC channel.
 *
 * pm2 signals the whole process tree on shutdown, so SIGINT and SIGTERM are ignored: the
 * supervisor drains this instance itself. If the supervisor dies (even by SIGKILL) the IPC
 * channel closes, and the child leaves with it; a watchdog thread makes sure of it when a hook
 * holds the event loop. So there are never orphans.
 */
import { Worker } from 'node:worker_threads'
import type { HostToWorker, WorkerToHost } from '../src/worker-protocol.js'
import { OutriggerError, serializeError } from '../src/errors.js'
import { decodeBatch } from './batch-codec.js'
import { Runtime } from './runtime.js'

process.on('SIGINT', () => {})
process.on('SIGTERM', () => {})
process.on('disconnect', () => process.exit(0))
process.on('uncaughtException', fatal)

const send = (msg: WorkerToHost): void => void process.send?.(msg)
const runtime = new Runtime(send, () => {
  // A child's limit is on its RSS; its heap and external memory are told apart for the operator.
  const m = process.memoryUsage()
  return { memoryMb: m.rss / 1048576, heapMb: m.heapUsed / 1048576, externalMb: m.external / 1048576 }
})

process.on('message', (msg: HostToWorker) => {
  switch (msg.code) {
    case 'start':
      // The watchdog thread boots beside the first batches, not in the way of the start (its
      // boot costs tens of ms of CPU), and before any hook can hold this thread's event loop.
      return void runtime.start(msg.spec).then((reply) => {
        send(reply)
        watchParent()
      })
    case 'run': {
      const id = msg.id
      // No `waited` from a child: a batch larger than the pipe arrives in pieces, and the loop
      // idles between them, so an idle loop does not tell a wait for work here. Its window stays
      // at the floor, which is where the fork transport measured best.
      return void runtime.run(decodeBatch(msg.batch), msg.seen).then(({ ms, failures, held }) => send({ code: 'ran', id, ms, failures, held }))
    }
    case 'stop':
      return void runtime.stop().then((reply) => process.send?.(reply, () => process.exit(0)))
    case 'ping':
    case 'rpc':
      return runtime.onControl(msg)
    default:
      throw new OutriggerError('RIG_ERR_WORKER_START', `protocol error: unexpected message "${(msg as { code?: unknown }).code}"`)
  }
})

if (!process.send) {
  process.stderr.write('this module runs as a forked worker instance, not on its own\n')
  process.exit(1)
}

/** Tells the host why before going (thread-stream's habit), but never hangs on the telling. */
function fatal(err: unknown): void {
  setTimeout(() => process.exit(1), 1000).unref()
  try {
    process.send?.({ code: 'fatal', error: serializeError(err) } satisfies WorkerToHost, () => process.exit(1))
  } catch {
    process.exit(1)
  }
}

/**
 * 'disconnect' needs this thread's event loop; a hook that holds it would make an orphan. A small
 * watchdog thread ends the process within 200 ms of the supervisor's death whatever the hook does.
 * Under worker.permissions without workerThreads, Node refuses the thread (ERR_ACCESS_DENIED) and
 * 'disconnect' alone remains: a hook holding the event loop when the supervisor dies keeps the
 * child until it returns (docs/permissions.md says why threads are not opened for it).
 */
function watchParent(): void {
  try {
    const watch = new Worker(new URL('./orphan-watch.js', import.meta.url), {
      workerData: { ppid: process.ppid },
      resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2 },
      stdout: false,
      stderr: false,
    })
    watch.unref()
    watch.on('error', () => undefined)
  } catch {}
}
