/**
 * The raw baseline's CPU burner, as a worker thread or a forked child: spins for the given
 * milliseconds per message, then acks — the event-loop benchmark's hook, minus the supervisor.
 */
import { parentPort } from 'node:worker_threads'

const spin = (ms: number): void => {
  const end = performance.now() + ms
  while (performance.now() < end) {}
}

if (parentPort) {
  const port = parentPort
  port.on('message', (ms: number) => {
    spin(ms)
    port.postMessage(ms)
  })
} else {
  process.on('message', (ms: number) => {
    spin(ms)
    // The host may have hung up while this one spun: nothing left to ack.
    if (process.connected) process.send!(ms, (err: Error | null) => void err)
  })
  process.on('disconnect', () => process.exit(0))
}
