import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { PluginDir, worker } from './helpers/plugins.js'
import { alive, until } from './helpers/wait.js'

const N = 100_000
const HOST = fileURLToPath(new URL('./helpers/durable-host.js', import.meta.url))

/** The victim writes every id it processes to a file of its own before its hook returns. */
const victim = `
import { openSync, writeSync } from 'node:fs'
let fd
export default {
  init(ctx) { fd = openSync(ctx.dataDir + '/ids-' + process.pid + '-' + Date.now() + '.log', 'a') },
  hooks: { 'chaos:evt'(p) {
    // A little work per event keeps batches out long enough for a kill to catch one.
    for (const t = process.hrtime.bigint(); process.hrtime.bigint() - t < 5_000n;);
    writeSync(fd, p.id + '\\n')
  } },
}`

interface Books {
  events: { received: number; processed: number; failed: number; inFlight: number; redelivered: number; recovered: number; deadLettered: number; lost: number }
  queue: { depth: number; dropped: number; rejected: number }
  pids: number[]
}

function balanced(b: Books): boolean {
  const e = b.events
  const q = b.queue
  return e.received === e.processed + e.failed + e.inFlight + q.depth + q.dropped + q.rejected + e.lost + e.deadLettered
}

/** One run of the host, and what it reported. */
class HostRun {
  readonly child: ChildProcess
  readonly exited: Promise<NodeJS.Signals | number | null>
  last: Books | undefined
  stopped: Books | undefined
  ready = false
  flushedTo: number

  constructor(dir: PluginDir, from: number, to: number, promised: Set<number>, pids: Set<number>, unbalanced: string[]) {
    this.flushedTo = from
    this.child = spawn(process.execPath, [HOST, dir.enabled, dir.stateDir, String(from), String(to)], { stdio: ['ignore', 'pipe', 'inherit'] })
    pids.add(this.child.pid!)
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve(signal ?? code)))
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const [word, ...rest] = line.split(' ')
      if (word === 'ready') this.ready = true
      else if (word === 'flushed') {
        const [a, b] = rest.map(Number)
        for (let id = a; id < b; id++) promised.add(id)
        this.flushedTo = Math.max(this.flushedTo, b)
      } else if (word === 'durable') promised.add(Number(rest[0]))
      else if (word === 'books' || word === 'stopped') {
        const books = JSON.parse(rest.join(' ')) as Books
        if (!balanced(books)) unbalanced.push(line)
        for (const pid of books.pids) if (pid) pids.add(pid)
        if (word === 'books') this.last = books
        else this.stopped = books
      }
    })
  }
}

async function processedIds(dir: PluginDir): Promise<Map<number, number>> {
  const data = path.join(dir.stateDir, 'data', 'victim')
  const seen = new Map<number, number>()
  for (const f of await readdir(data)) {
    for (const line of (await readFile(path.join(data, f), 'utf8')).split('\n')) if (line) seen.set(Number(line), (seen.get(Number(line)) ?? 0) + 1)
  }
  return seen
}

describe('durable chaos', () => {
  const pids = new Set<number>()
  let dir: PluginDir
  after(async () => {
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
    await dir?.remove()
  })

  it(`keeps every promised event of ${N.toLocaleString('en')} while the host is SIGKILLed 3 times and instances die at random`, async (t) => {
    dir = await PluginDir.create('outrigger-durable-chaos-')
    await dir.add('victim', worker('victim', {
      isolation: 'process', instances: 2, delivery: 'durable', maxAttempts: 1_000_000,
      restart: { maxRestarts: 100_000, backoffMs: { initial: 5, max: 50 } },
    }), victim)
    const promised = new Set<number>()
    const unbalanced: string[] = []
    // Three kill points, each at a random place in its own third of the stream.
    const killAt = [0, 1, 2].map((i) => Math.floor(N * (0.1 + 0.27 * i + Math.random() * 0.2)))
    let from = 0
    let hostKills = 0
    let instanceKills = 0
    const runs: HostRun[] = []
    for (let round = 0; round <= killAt.length; round++) {
      const run = new HostRun(dir, from, N, promised, pids, unbalanced)
      runs.push(run)
      // Instances die at random while the host runs.
      let killer: NodeJS.Timeout | undefined
      const killOne = () => {
        killer = setTimeout(() => {
          const live = (run.last?.pids ?? []).filter((pid) => pid && alive(pid))
          const pid = live[Math.floor(Math.random() * live.length)]
          if (pid && run.last!.events.inFlight > 0) {
            try {
              process.kill(pid, 'SIGKILL')
              instanceKills++
            } catch {}
          }
          killOne()
        }, 150 + Math.random() * 300)
      }
      killOne()
      try {
        if (round < killAt.length) {
          await until(`run ${round} to pass id ${killAt[round]}`, () => run.flushedTo >= killAt[round] || run.stopped !== undefined, 40_000)
          await new Promise((r) => setTimeout(r, Math.random() * 30))
          run.child.kill('SIGKILL')
          assert.equal(await run.exited, 'SIGKILL')
          hostKills++
          // The next run starts where the promises stopped: ids emitted but never promised may be
          // in the journal or not; emitting them again may duplicate them, never lose them.
          from = run.flushedTo
        } else {
          assert.equal(await run.exited, 0, 'the last run finished and stopped')
        }
      } finally {
        clearTimeout(killer)
      }
    }
    const last = runs[runs.length - 1]
    assert.ok(last.stopped, 'the last run reported its books after stop')
    assert.deepEqual(unbalanced, [], 'the books balance in every report of every run')
    assert.equal(last.stopped.queue.depth, 0, 'the last run drained everything')
    assert.ok(runs.slice(1).some((r) => (r.stopped ?? r.last)!.events.recovered > 0), 'a restarted host recovered events')
    assert.equal(hostKills, 3)

    const seen = await processedIds(dir)
    const missing = [...promised].filter((id) => !seen.has(id))
    assert.deepEqual(missing.slice(0, 20), [], `${missing.length} promised ids never processed`)
    assert.ok(promised.size >= N - 3 * 1000, `promised ${promised.size}`)
    let duplicates = 0
    for (const n of seen.values()) if (n > 1) duplicates += n - 1
    t.diagnostic(`${promised.size} ids promised, ${seen.size} processed, ${duplicates} duplicate deliveries; ${hostKills} host SIGKILLs, ${instanceKills} instance SIGKILLs; recovered per run: ${runs.map((r) => (r.stopped ?? r.last)?.events.recovered ?? 0).join(', ')}`)

    // No process of the test outlives it: every host and every instance seen is gone.
    await until('every host and instance gone', () => [...pids].every((pid) => !alive(pid)), 5000)
  })
})
