/**
 * A host for the orphan test: a supervisor on `argv[2]` (plugins) and `argv[3]` (state) that
 * emits `load:evt` without end (a durable plugin's journal is being written all along), emits
 * one `busy:go`, and reports on stdout every 50 ms, per worker plugin, its instance pids and
 * counters: `plugins <json>`. The parent SIGKILLs it.
 */
import { startSupervisor } from '../../src/start.js'

const [pluginsDir, stateDir] = process.argv.slice(2)
const sup = await startSupervisor({
  app: `emitting-${process.pid}`,
  pluginsDir,
  stateDir,
  store: 'memory',
  control: false,
  http: false,
  config: { logLevel: 'silent' },
})
sup.emit('busy:go', {})
let id = 0
setInterval(() => {
  for (let i = 0; i < 200; i++) sup.emit('load:evt', { id: id++ })
}, 2)
setInterval(() => {
  const plugins = sup.status().plugins.map((p) => ({ name: p.name, pids: p.instances.map((i) => i.pid), inFlight: p.events.inFlight, processed: p.events.processed, journaled: p.delivery === 'durable' }))
  process.stdout.write(`plugins ${JSON.stringify(plugins)}\n`)
}, 50)
