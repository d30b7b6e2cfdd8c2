/**
 * The piscina task handler of a thread instance. The first task hands over a port and starts the
 * plugin; batches, heartbeats and rpc then come over that port. The last task is the stop.
 */
import { getHeapStatistics } from 'node:v8'
import type { MessagePort } from 'node:worker_threads'
import type { HostToWorker, MemoryFigures, RanMsg, StartedMsg, StartFailedMsg, StoppedMsg } from '../src/worker-protocol.js'
import { OutriggerError } from '../src/errors.js'
import { decodeBatch } from './batch-codec.js'
import { RunCount } from './run-count.js'
import { Runtime } from './runtime.js'

let runtime: Runtime | undefined

/**
 * A thread shares the process's RSS, so its own figure is what its isolate holds: the V8 heap and
 * the memory outside it (Buffers, ArrayBuffers), which V8 accounts per isolate. The heap alone
 * would miss a thread that keeps Buffers: resourceLimits caps only the heap.
 */
function memory(): MemoryFigures {
  const h = getHeapStatistics()
  const heapMb = h.used_heap_size / 1048576
  const externalMb = h.external_memory / 1048576
  return { memoryMb: heapMb + externalMb, heapMb, externalMb }
}

export default async function task(msg: HostToWorker): Promise<StartedMsg | StartFailedMsg | StoppedMsg> {
  switch (msg.code) {
    case 'start': {
      const port = msg.port as MessagePort
      const rt = (runtime = new Runtime((reply) => port.postMessage(reply), memory, true))
      // A throw here (an unknown control message) is uncaught on purpose: the thread dies loudly.
      const running = new RunCount()
      port.on('message', (m: HostToWorker) => {
        if (m.code !== 'run') return rt.onControl(m)
        const id = m.id
        const waited = running.arrived()
        void rt.run(decodeBatch(m.batch), m.seen).then(({ ms, failures, held }) => {
          running.done()
          port.postMessage({ code: 'ran', id, ms, failures, held, waited } satisfies RanMsg)
        })
      })
      return rt.start(msg.spec)
    }
    case 'stop':
      return started().stop()
    default:
      throw new OutriggerError('RIG_ERR_WORKER_START', `protocol error: unexpected task "${(msg as { code?: unknown }).code}"`)
  }
}

function started(): Runtime {
  if (!runtime) throw new OutriggerError('RIG_ERR_WORKER_START', 'protocol error: a task arrived before "start"')
  return runtime
}
