/**
 * `npm run demo:load` — a burst of orders against the running demo (`npm start`), to watch the
 * idea at work: the shop answers every order from the host's event loop while analytics burns a
 * few milliseconds of CPU per order in its two threads and audit writes each one from its child
 * process. `GET /_status` is sampled throughout; the table shows the host's event-loop p99 beside
 * the workers' queues draining.
 *
 *   npm run demo:load -- [--url http://127.0.0.1:7411] [--orders 2000] [--concurrency 8] [--token T]
 *
 * With `http.token` set in the host config, pass it with --token (or OUTRIGGER_TOKEN).
 */
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import type { PluginStatus, StatusReport } from '../src/supervisor/status-types.js'
import { reportDelta, runCounts } from './demo-summary.js'

const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:7411' },
    orders: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '8' },
    'sample-ms': { type: 'string', default: '200' },
    token: { type: 'string', default: process.env.OUTRIGGER_TOKEN },
  },
})
/** Every request carries the bearer token when one is given (the default auth slot's check). */
const AUTH: Record<string, string> = args.token ? { authorization: `Bearer ${args.token}` } : {}
const BASE = args.url.replace(/\/+$/, '')
const ORDERS = positive(args.orders, '--orders')
const CONCURRENCY = positive(args.concurrency, '--concurrency')
const SAMPLE_MS = positive(args['sample-ms'], '--sample-ms')
/** How long the workers get to catch up once the burst is sent before the run gives up. */
const DRAIN_DEADLINE_MS = 120_000

interface Sample {
  atMs: number
  sent: number
  hostP99: number
  analytics: Lane
  audit: Lane
}
interface Lane {
  received: number
  queued: number
  inFlight: number
  processed: number
}

function positive(v: string, name: string): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1) {
    console.error(`${name} must be a positive integer (found "${v}")`)
    process.exit(2)
  }
  return n
}

async function status(): Promise<StatusReport> {
  const res = await fetch(`${BASE}/_status`, { headers: AUTH })
  if (!res.ok) throw new Error(`GET /_status answered ${res.status}`)
  return (await res.json()) as StatusReport
}

function plugin(s: StatusReport, name: string): PluginStatus {
  const p = s.plugins.find((x) => x.name === name)
  if (!p || p.type !== 'worker') throw new Error(`the host at ${BASE} has no worker plugin "${name}": is it the demo (npm start)?`)
  return p
}

const lane = (p: PluginStatus, base: PluginStatus): Lane => ({
  received: p.events.received - base.events.received,
  queued: p.queue.depth,
  inFlight: p.events.inFlight,
  processed: p.events.processed - base.events.processed,
})

/** Sends the orders from `CONCURRENCY` loops over keep-alive connections; counts the answers. */
async function burst(progress: { sent: number }) {
  const answers = { ok: 0, refused: 0, other: 0 }
  const latencies: number[] = []
  let next = 0
  const loop = async () => {
    while (next < ORDERS) {
      const i = next++
      // Mostly widgets and gizmos (plenty in stock); every 20th order a gadget, of which the
      // shop has 50: once they are gone, its pipe refuses the order with a 409.
      const item = i % 20 === 19 ? 'gadget' : i % 2 ? 'widget' : 'gizmo'
      const t0 = performance.now()
      const res = await fetch(`${BASE}/_/shop/orders/create`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...AUTH },
        body: JSON.stringify({ item, qty: 1 }),
      })
      await res.arrayBuffer()
      latencies.push(performance.now() - t0)
      progress.sent++
      if (res.status === 200) answers.ok++
      else if (res.status === 409) answers.refused++
      else answers.other++
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, loop))
  latencies.sort((a, b) => a - b)
  const pct = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0
  return { ...answers, p50: pct(0.5), p99: pct(0.99) }
}

const fmt = (n: number, digits = 1) => n.toFixed(digits)

async function analyticsReport(): Promise<unknown> {
  return ((await (await fetch(`${BASE}/_/shop/reports/analytics`, { headers: AUTH })).json()) as { result: unknown }).result
}

function table(samples: Sample[]): string {
  const head = ['t (s)', 'orders sent', 'host loop p99 ms', 'analytics queued', 'analytics done', 'audit queued', 'audit done']
  // A long drain prints every k-th sample (and always the last) to keep the table short.
  const k = Math.ceil(samples.length / 24)
  const rows = samples
    .filter((_, i) => i % k === 0 || i === samples.length - 1)
    .map((s) => [
      fmt(s.atMs / 1000),
      String(s.sent),
      fmt(s.hostP99, 2),
      String(s.analytics.queued + s.analytics.inFlight),
      String(s.analytics.processed),
      String(s.audit.queued + s.audit.inFlight),
      String(s.audit.processed),
    ])
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)))
  const line = (cells: string[]) => cells.map((v, c) => v.padStart(widths[c])).join('  ')
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

async function main(): Promise<void> {
  let before: StatusReport
  try {
    before = await status()
  } catch (err) {
    console.error(`cannot reach the demo at ${BASE} (${(err as Error).message}); start it first with: npm start`)
    process.exit(3)
  }
  const base = { analytics: plugin(before, 'analytics'), audit: plugin(before, 'audit') }
  const idleP99 = before.eventLoop.p99Ms
  const reportBefore = await analyticsReport()
  console.log(`${ORDERS} orders to ${BASE}, ${CONCURRENCY} at a time; host event-loop p99 before: ${fmt(idleP99, 2)} ms\n`)

  const progress = { sent: 0 }
  const samples: Sample[] = []
  const t0 = performance.now()
  const take = async () => {
    const s = await status()
    samples.push({
      atMs: performance.now() - t0,
      sent: progress.sent,
      hostP99: s.eventLoop.p99Ms,
      analytics: lane(plugin(s, 'analytics'), base.analytics),
      audit: lane(plugin(s, 'audit'), base.audit),
    })
    return s
  }
  // Sampling at a fixed rate is the measurement itself (a time series), not a wait for a state.
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      await take()
      await new Promise((r) => setTimeout(r, SAMPLE_MS))
    }
  })()

  const answers = await burst(progress)
  const sentMs = performance.now() - t0
  // Each accepted order is an event for each worker plugin; go on sampling until both have taken
  // them all in and hold none (processed, or else counted as failed, lost or dropped below).
  const settled = (l: Lane) => l.received >= answers.ok && l.queued === 0 && l.inFlight === 0
  const end = Date.now() + DRAIN_DEADLINE_MS
  let last = samples[samples.length - 1]
  while (!last || last.sent < ORDERS || !settled(last.analytics) || !settled(last.audit)) {
    if (Date.now() > end) break
    await new Promise((r) => setTimeout(r, SAMPLE_MS))
    last = samples[samples.length - 1]
  }
  sampling = false
  await sampler
  const after = await take()
  const drainedMs = performance.now() - t0

  console.log(table(samples))
  const an = plugin(after, 'analytics')
  const au = plugin(after, 'audit')
  // This run's counts only: the host's totals include every earlier run.
  const anRun = runCounts(an, base.analytics)
  const auRun = runCounts(au, base.audit)
  const worstP99 = Math.max(...samples.map((s) => s.hostP99))
  const reportRun = reportDelta(await analyticsReport(), reportBefore)
  console.log(`
orders        ${answers.ok} accepted, ${answers.refused} refused (409: out of stock)${answers.other ? `, ${answers.other} other answers` : ''}; ` +
    `sent in ${fmt(sentMs / 1000, 2)} s (${Math.round(ORDERS / (sentMs / 1000))}/s), request p50 ${fmt(answers.p50)} ms, p99 ${fmt(answers.p99)} ms
host loop     event-loop p99 ${fmt(idleP99, 2)} ms before, worst sample ${fmt(worstP99, 2)} ms during the run
analytics     ${last.analytics.processed}/${answers.ok} processed by ${an.instances.length} ${an.isolation}s in ${fmt(drainedMs / 1000, 2)} s, ` +
    `handler p50 ${fmt(an.handlerMs.p50, 2)} ms (≈ ${fmt((last.analytics.processed * an.handlerMs.p50) / 1000, 2)} s of CPU kept off the host's loop); ` +
    `dropped ${anRun.dropped}, failed ${anRun.failed}, lost ${anRun.lost}
audit         ${last.audit.processed}/${answers.ok} processed by ${au.isolation} pid ${au.instances.map((i) => i.pid).join(', ')} (${au.delivery}); ` +
    `redelivered ${auRun.redelivered}, dead-lettered ${auRun.deadLettered}, lost ${auRun.lost}
report        ${JSON.stringify(reportRun)} (this run; GET /_/shop/reports/analytics has the totals)`)
  const busy = an.instances.length + au.instances.length + 2
  if (busy > availableParallelism()) {
    // Said so that a reader does not mistake it for blocking: no listener runs on the host's loop,
    // but more threads want a core than there are cores, so the loop sometimes waits its turn.
    console.log(`\nnote          ${availableParallelism()} cores for ${busy} busy threads (host, this client, ${an.instances.length + au.instances.length} workers): ` +
      'no listener runs on the host loop, but the loop waits its turn for a core')
  }
  if (!settled(last.analytics) || !settled(last.audit)) {
    console.error(`\nthe workers had not caught up ${DRAIN_DEADLINE_MS / 1000} s after the burst; see: outrigger status`)
    process.exitCode = 1
  } else if (last.analytics.processed < answers.ok || last.audit.processed < answers.ok) {
    console.error('\nsome orders were not processed (see failed, lost and dropped above, and: outrigger status)')
    process.exitCode = 1
  }
}

main().catch((err: Error) => {
  console.error(err.message)
  process.exitCode = 1
})
