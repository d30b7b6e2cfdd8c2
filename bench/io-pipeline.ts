/**
 * Files in, files out, end to end: NDJSON lines → ndjson-source (a child process) → a worker
 * hook that transforms each record (a thread) → ndjson-sink (a thread: batches appended to a
 * file, one fsync per batch). Beside it, in the same run and on the same file, the pipeline a Node
 * programmer would write by hand in one thread: readline → a Transform stream doing the same
 * transform → a write stream, with one fsync at the end.
 *
 * Both read the same N lines and write N transformed lines; the figure is lines per second from
 * the file's arrival to the last line on disk. The supervisor is started once, outside the timing.
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, open, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { startSupervisor } from '../src/index.js'
import type { Supervisor } from '../src/index.js'
import { type Bench, type Row, log, median, until } from './common.js'

const N = 100_000
const ROUNDS = 3
/** dist/bench → the repository's shipped plugins. */
const AVAILABLE = fileURLToPath(new URL('../../plugins/available/', import.meta.url))

const line = (i: number): string => JSON.stringify({ id: i, sensor: `s${i % 16}`, celsius: 20 + (i % 100) / 10, text: 'reading' })
/** The work both sides do per record. */
const TRANSFORM = `(r) => ({ id: r.id, sensor: r.sensor, fahrenheit: r.celsius * 1.8 + 32, text: r.text.toUpperCase() })`
const transform = (r: { id: number; sensor: string; celsius: number; text: string }) => ({ id: r.id, sensor: r.sensor, fahrenheit: r.celsius * 1.8 + 32, text: r.text.toUpperCase() })

/** The hand-written pipeline: readline → Transform → write stream, one fsync at the end. */
async function raw(input: string, output: string): Promise<number> {
  const t0 = performance.now()
  const lines = readline.createInterface({ input: createReadStream(input), crlfDelay: Infinity })
  const out = createWriteStream(output)
  const work = new Transform({
    objectMode: true,
    transform(text: string, _enc, done) {
      if (text === '') return done()
      done(null, JSON.stringify({ event: 'io:out', payload: transform(JSON.parse(text)) }) + '\n')
    },
  })
  await pipeline(lines, work, out)
  const fh = await open(output, 'r+')
  await fh.sync()
  await fh.close()
  return performance.now() - t0
}

async function system(sup: Supervisor, spool: string, input: string, round: number, base: number): Promise<number> {
  const t0 = performance.now()
  // A file appears in the spool the way a producer drops one: written aside, renamed in.
  await writeFile(path.join(spool, `.round-${round}.tmp`), await readFile(input))
  await rename(path.join(spool, `.round-${round}.tmp`), path.join(spool, `round-${round}.ndjson`))
  // Polled every 25 ms: a status report reads the process's memory, which is not free.
  const sink = () => sup.status().plugins.find((p) => p.name === 'ndjson-sink')!.sinks!['io:out']
  await until('every line on disk', () => {
    const s = sink()
    return s !== undefined && s.events === base + N && s.written === s.batches
  }, 600_000, 25)
  return performance.now() - t0
}

export const ioPipeline: Bench = {
  name: 'io-pipeline',
  title: `${N / 1000}k NDJSON lines: ndjson-source → worker hook → ndjson-sink, against readline → Transform → write stream`,
  async run(): Promise<Row[]> {
    const root = await mkdtemp(path.join(tmpdir(), 'outrigger-bench-io-'))
    const spool = path.join(root, 'spool')
    const outDir = path.join(root, 'out')
    const enabled = path.join(root, 'enabled')
    await mkdir(path.join(root, 'available', 'shout'), { recursive: true })
    await mkdir(enabled)
    await mkdir(spool)
    await writeFile(path.join(root, 'package.json'), '{"type":"module"}\n')
    await writeFile(path.join(root, 'available', 'shout', 'manifest.json'), JSON.stringify({ name: 'shout', version: '1.0.0', type: 'worker', worker: { isolation: 'thread' } }))
    await writeFile(path.join(root, 'available', 'shout', 'index.js'), `const transform = ${TRANSFORM}\nexport default { hooks: { 'ndjson:record'(p, ctx) { ctx.emit('io:out', transform(p.record)) } } }\n`)
    await symlink(path.join('..', 'available', 'shout'), path.join(enabled, 'shout'), 'dir')
    for (const p of ['ndjson-source', 'ndjson-sink']) await symlink(path.join(AVAILABLE, p), path.join(enabled, p), 'dir')
    const input = path.join(root, 'input.ndjson')
    await writeFile(input, Array.from({ length: N }, (_, i) => line(i)).join('\n') + '\n')
    const sup = await startSupervisor({
      app: `bench-io-${process.pid}`,
      pluginsDir: enabled,
      stateDir: path.join(root, 'state'),
      store: 'memory',
      control: false,
      http: false,
      config: {
        logLevel: 'silent',
        plugins: {
          'ndjson-source': { options: { spool, finishAfterMs: 100, pollMs: 20, checkpointEvery: 1000 } },
          'ndjson-sink': { options: { pattern: 'io:out', dir: outDir, name: 'out', batch: { max: 1000, maxWaitMs: 20 } } },
        },
      },
    })
    try {
      const sys: number[] = []
      const base: number[] = []
      // One warm-up round each, then paired rounds, so drift hits both alike.
      for (let r = 0; r <= ROUNDS; r++) {
        const s = await system(sup, spool, input, r, r * N)
        const b = await raw(input, path.join(root, `raw-${r}.ndjson`))
        if (r === 0) continue
        sys.push(s)
        base.push(b)
        log(`round ${r}: outrigger ${((N / s) * 1000).toFixed(0)} lines/s, hand-written ${((N / b) * 1000).toFixed(0)} lines/s`)
      }
      const written = (await stat(path.join(outDir, 'out.ndjson'))).size
      log(`sink file: ${(written / 1048576).toFixed(1)} MB for ${(ROUNDS + 1) * N} lines`)
      const sysRate = (N / median(sys)) * 1000
      const rawRate = (N / median(base)) * 1000
      return [{ metric: 'file → source → hook → sink file', unit: 'events/s', raw: rawRate, system: sysRate, ratio: sysRate / rawRate, target: 'report', met: null, note: 'raw: readline → Transform → write stream in one thread, one fsync at the end; outrigger: one fsync per sink batch (max 1000), checkpoints every 1000 lines, three processes/threads' }]
    } finally {
      await sup.stop()
      await rm(root, { recursive: true, force: true })
    }
  },
}
