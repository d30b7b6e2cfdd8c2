/**
 * The piscina task handler of a thread instance. The first task hands over a port and starts the
 * plugin; batches, heartbeats and rpc then come over that port. The last task is the stop.
 */
import { getHeapStatistics } from 'node:v8'
import type { MessagePort } from 'node:worker_threads'
import type { HostToWorker, RanMsg, StartedMsg, StartFailedMsg, StoppedMsg } from '../src/worker-protocol.js'
import { OutriggerError } from '../src/errors.js'
import { Runtime } from './runtime.js'

let runtime: Runtime | undefined

// A thread shares the process's RSS, so its own figure is its V8 heap.
const heapUsedMb = (): number => getHeapStatistics().used_heap_size / 1048576

export default async function task(msg: HostToWorker): Promise<StartedMsg | StartFailedMsg | StoppedMsg> {
  switch (msg.code) {
    case 'start': {
      const port = msg.port as MessagePort
      const rt = (runtime = new Runtime((reply) => port.postMessage(reply), heapUsedMb))
      // A throw here (an unknown control message) is uncaught on purpose: the thread dies loudly.
      port.on('message', (m: HostToWorker) => {
        if (m.code !== 'run') return rt.onControl(m)
        const id = m.id
        void rt.run(m.batch).then(({ ms, failures }) => port.postMessage({ code: 'ran', id, ms, failures } satisfies RanMsg))
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
