/**
 * Runs the benchmarks in one process and prints each figure beside the raw baseline measured in
 * the same run, with the ratio and the DESIGN §5a target.
 *
 *   npm run bench                  every benchmark
 *   npm run bench -- restart emit  only those whose name contains one of the words
 *
 * Benchmarks report; they never fail a build (the exit code is 0 whether targets are met or not).
 */
import os from 'node:os'
import { type Bench, type Row, fmt } from './common.js'
import { cluster } from './cluster.js'
import { clusterLog } from './cluster-log.js'
import { confined } from './confined.js'
import { coordination } from './coordination.js'
import { durable } from './durable.js'
import { durableSink } from './durable-sink.js'
import { emitCost } from './emit-cost.js'
import { eventLoop } from './event-loop.js'
import { hookDispatch } from './hook-dispatch.js'
import { ioPipeline } from './io-pipeline.js'
import { pipeChain } from './pipe-chain.js'
import { reload } from './reload.js'
import { restart } from './restart.js'
import { threadPath } from './thread-path.js'
import { workerThroughput } from './worker-throughput.js'
import { wsVsHttp } from './ws-vs-http.js'

const ALL: Bench[] = [hookDispatch, pipeChain, workerThroughput, emitCost, eventLoop, restart, durable, durableSink, confined, wsVsHttp, threadPath, reload, cluster, clusterLog, ioPipeline, coordination]

function table(rows: Array<Row & { bench: string }>): string {
  const head = ['benchmark', 'metric', 'unit', 'raw', 'outrigger', 'ratio', 'target', 'met']
  const body = rows.map((r) => [
    r.bench,
    r.metric,
    r.unit,
    fmt(r.raw),
    fmt(r.system, r.unit === 'events/s' || r.unit === 'ops/s' ? 2 : 3),
    r.ratio === null ? '–' : r.ratio.toFixed(2),
    r.target,
    r.met === null ? '–' : r.met ? 'yes' : 'NO',
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)))
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ')
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n')
}

async function main(): Promise<void> {
  const words = process.argv.slice(2).filter((a) => !a.startsWith('-'))
  const picked = words.length ? ALL.filter((b) => words.some((w) => b.name.includes(w))) : ALL
  if (!picked.length) {
    process.stderr.write(`no benchmark matches ${words.join(', ')}; known: ${ALL.map((b) => b.name).join(', ')}\n`)
    process.exitCode = 2
    return
  }
  const cpus = os.cpus()
  process.stdout.write(`outrigger benchmarks — Node ${process.version}, ${cpus.length} × ${cpus[0]?.model ?? 'cpu'}, ${os.platform()} ${os.arch()}\n`)
  const rows: Array<Row & { bench: string }> = []
  const started = performance.now()
  for (const b of picked) {
    process.stderr.write(`▸ ${b.name}: ${b.title}\n`)
    const t = performance.now()
    try {
      for (const r of await b.run()) rows.push({ ...r, bench: b.name })
    } catch (err) {
      process.stderr.write(`  ${b.name} failed: ${(err as Error).stack ?? err}\n`)
      process.exitCode = 1
    }
    process.stderr.write(`  (${((performance.now() - t) / 1000).toFixed(1)} s)\n`)
  }
  process.stdout.write(`\n${table(rows)}\n`)
  const notes = rows.filter((r) => r.note)
  if (notes.length) process.stdout.write(`\n${notes.map((r) => `${r.bench} / ${r.metric}: ${r.note}`).join('\n')}\n`)
  process.stdout.write(`\ntotal ${((performance.now() - started) / 1000).toFixed(1)} s\n`)
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(rows)}\n`)
}

await main()
