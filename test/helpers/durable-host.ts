/**
 * A host for the durable chaos test: a supervisor on a fixed state folder that emits the ids
 * `argv[4]` … `argv[5] - 1` to the durable plugin and reports on stdout (a pipe: synchronous
 * writes, so a line out is a line the parent gets, however this process dies) only what it was
 * promised, after the promise:
 *   ready <pid>                        the supervisor started
 *   flushed <from> <to>                a flush() resolved after ids from … to - 1 were emitted
 *   durable <id>                       an emitDurable() of id resolved
 *   books <json>                       the plugin's status (every 100 ms, and at the end)
 *   stopped <json>                     stop() finished: the status after it
 * The parent SIGKILLs it (and the plugin's instances) at random.
 */
import { startSupervisor } from '../../src/start.js'

const [pluginsDir, stateDir, fromArg, toArg] = process.argv.slice(2)
const from = Number(fromArg)
const to = Number(toArg)
const BATCH = 1000
const say = (line: string) => process.stdout.write(`${line}\n`)

const sup = await startSupervisor({
  app: `durable-chaos-${process.pid}`,
  pluginsDir,
  stateDir,
  store: 'memory',
  control: false,
  http: false,
  config: { logLevel: 'silent', journal: { commitMs: 5 }, timeouts: { drainMs: 120_000 } },
})
const books = () => {
  const p = sup.status().plugins.find((x) => x.name === 'victim')!
  return JSON.stringify({ events: p.events, queue: p.queue, pids: p.instances.map((i) => i.pid) })
}
say(`ready ${process.pid}`)
const reporter = setInterval(() => say(`books ${books()}`), 100)

for (let start = from; start < to; start += BATCH) {
  const end = Math.min(start + BATCH, to)
  for (let id = start; id < end; id++) {
    if (id % 97 === 0) void sup.emitDurable('chaos:evt', { id }).then(() => say(`durable ${id}`))
    else sup.emit('chaos:evt', { id })
  }
  await sup.flush()
  say(`flushed ${start} ${end}`)
  // Paced load, so that the run spans the kills.
  await new Promise((r) => setTimeout(r, 10))
}
// Everything emitted, and the backlog of earlier runs with it, is processed before the stop: a
// stop while every instance happens to be down (they are killed at random) would not wait.
while (true) {
  const p = sup.status().plugins.find((x) => x.name === 'victim')!
  if (p.queue.depth === 0 && p.events.inFlight === 0) break
  await new Promise((r) => setTimeout(r, 20))
}
await sup.stop()
clearInterval(reporter)
say(`stopped ${books()}`)
