/**
 * What `worker.permissions` costs a process worker, beside the same plugin unconfined in the same
 * supervisor and run: the restart to the first processed event (a confined child starts under
 * the permission model and without its watchdog thread), and delivery throughput (the IPC
 * channel is the same; only the plugin's file access is checked). Paired rounds, so drift hits
 * both alike.
 */
import type { Supervisor } from '../src/index.js'
import { type Bench, type Row, log, median, pairedRounds, pluginStatus, until, wallMs, withSupervisor } from './common.js'

const RESTARTS = 10
const EVENTS = 50_000

const plugin = (name: string) => `
const gen = Math.random()
let reported = false
export default { hooks: {
  '${name}:tick'(p, ctx) {
    if (reported) return
    reported = true
    ctx.emit('confined:seen', { name: '${name}', gen, at: performance.timeOrigin + performance.now() })
  },
  '${name}:load'() {},
} }
`
const observer = `export default { hooks: { 'confined:seen'(p) { globalThis.__confinedSeen(p) } } }\n`
const manifest = (permissions?: object) => ({
  type: 'worker',
  worker: { isolation: 'process', queue: { max: EVENTS * 2 }, restart: { policy: 'permanent', maxRestarts: 1000, windowMs: 60_000, backoffMs: { initial: 0, max: 0 } }, ...(permissions ? { permissions } : {}) },
})

type Seen = { name: string; gen: number; at: number }

export const confined: Bench = {
  name: 'confined',
  title: 'a process worker under worker.permissions beside the same one unconfined',
  async run() {
    const seen: Seen[] = []
    ;(globalThis as { __confinedSeen?: (p: Seen) => void }).__confinedSeen = (p) => void seen.push(p)
    const lastOf = (name: string) => seen.filter((s) => s.name === name).at(-1)
    const plugins: Array<[string, object, string]> = [['observer', { type: 'core' }, observer], ['open', manifest(), plugin('open')], ['shut', manifest({}), plugin('shut')]]
    return withSupervisor(plugins, async (sup: Supervisor) => {
      const feed = setInterval(() => {
        sup.emit('open:tick', {})
        sup.emit('shut:tick', {})
      }, 1)
      try {
        await until('both instances ticking', () => !!lastOf('open') && !!lastOf('shut'))
        /** SIGKILLs the plugin's child; ms from the kill to the new instance's first hook. */
        const restart = async (name: string): Promise<number> => {
          const gen = lastOf(name)!.gen
          const t0 = wallMs()
          process.kill(pluginStatus(sup, name).instances[0].pid, 'SIGKILL')
          await until(`${name} restarted`, () => lastOf(name)!.gen !== gen, 10_000)
          const ms = lastOf(name)!.at - t0
          await until(`${name} running`, () => pluginStatus(sup, name).instances[0].state === 'running')
          return ms
        }
        const starts = await pairedRounds(1, RESTARTS, () => restart('shut'), () => restart('open'))
        // The ticks would count as processed events: throughput is measured without them.
        clearInterval(feed)
        /** Events per second delivered and processed, EVENTS at a time. */
        const throughput = async (name: string): Promise<number> => {
          const before = pluginStatus(sup, name).events.processed
          const t0 = performance.now()
          for (let i = 0; i < EVENTS; i++) {
            sup.emit(`${name}:load`, { i })
            if (i % 1000 === 999) await new Promise((r) => setImmediate(r))
          }
          await until(`${name} drained`, () => pluginStatus(sup, name).events.processed >= before + EVENTS, 60_000)
          return EVENTS / ((performance.now() - t0) / 1000)
        }
        const rates = await pairedRounds(1, 3, () => throughput('shut'), () => throughput('open'))
        const [sStart, oStart, sRate, oRate] = [median(starts.sys), median(starts.raw), median(rates.sys), median(rates.raw)]
        log(`confined restart ms [${starts.sys.map((x) => x.toFixed(0)).join(' ')}], unconfined [${starts.raw.map((x) => x.toFixed(0)).join(' ')}]`)
        log(`confined events/s [${rates.sys.map((x) => x.toFixed(0)).join(' ')}], unconfined [${rates.raw.map((x) => x.toFixed(0)).join(' ')}]`)
        const rows: Row[] = [
          { metric: 'restart → first event, process, confined vs unconfined', unit: 'ms', raw: oStart, system: sStart, ratio: sStart / oStart, target: '≤ 300 ms', met: sStart <= 300 },
          { metric: 'delivery to a process worker, confined vs unconfined', unit: 'events/s', raw: oRate, system: sRate, ratio: sRate / oRate, target: 'ratio ≥ 0.9', met: sRate / oRate >= 0.9 },
        ]
        return rows
      } finally {
        clearInterval(feed)
      }
    })
  },
}
