/**
 * The two file plugins shipped in plugins/available, run as shipped: ndjson-source (a process)
 * tails a real spool folder, ndjson-sink (a thread) appends to a real, size-rotated file.
 */
import assert from 'node:assert/strict'
import { appendFile, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { MemoryStore } from '../src/state/memory-store.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { PluginDir, worker } from './helpers/plugins.js'
import { alive, until } from './helpers/wait.js'

/** The compiled test runs from dist/test. */
const AVAILABLE = fileURLToPath(new URL('../../plugins/available/', import.meta.url))

const record = (i: number) => JSON.stringify({ i, text: `record ${i}` })

/** A worker plugin that keeps the `line` of every record it hears, with about `costMs` of CPU each. */
const consumer = (costMs: number) => `
  const lines = []
  export default { hooks: { 'ndjson:record'(p) { const end = performance.now() + ${costMs}; while (performance.now() < end); lines.push(p.line) } },
    functions: { lines: () => lines } }`

describe('ndjson-source and ndjson-sink', () => {
  let dir: PluginDir
  let sup: Supervisor | undefined
  let spool: string
  let out: string
  beforeEach(async () => {
    dir = await PluginDir.create()
    spool = path.join(dir.root, 'spool')
    out = path.join(dir.root, 'out')
    await mkdir(spool)
  })
  afterEach(() => dir.remove())

  const enable = (name: string) => symlink(path.join(AVAILABLE, name), path.join(dir.enabled, name), 'dir')

  it('emits every record of a dropped file in order, dead-letters a malformed line with its file and line, and moves the file to done/', async () => {
    await enable('ndjson-source')
    await dir.add('reader', worker('reader', { isolation: 'thread' }), consumer(0))
    const lines = Array.from({ length: 300 }, (_, i) => record(i + 1))
    lines[6] = '{"i": 7, oops'
    await writeFile(path.join(spool, 'a.ndjson'), lines.join('\n') + '\n')
    sup = await dir.start({ config: { logLevel: 'silent', plugins: { 'ndjson-source': { options: { spool, finishAfterMs: 50 } } } } })
    await until('the file moved to done/', async () => (await readdir(path.join(spool, 'done'))).includes('a.ndjson'), 20_000)
    const heard = await until('299 records', async () => {
      const l = await sup!.call<number[]>('reader.lines')
      return l.length === 299 && l
    })
    assert.deepEqual(heard, Array.from({ length: 300 }, (_, i) => i + 1).filter((n) => n !== 7))
    const letters = await sup.listDeadLetters('ndjson-source')
    assert.equal(letters.length, 1)
    assert.deepEqual(letters[0].payload, { file: 'a.ndjson', line: 7, text: '{"i": 7, oops' })
    assert.match(letters[0].error!.message, /^a\.ndjson:7: not JSON/)
    assert.deepEqual(await readdir(spool), ['done'])
  })

  it('reads a file as it grows, a line only once its newline arrived', async () => {
    await enable('ndjson-source')
    await dir.add('reader', worker('reader', { isolation: 'thread' }), consumer(0))
    const file = path.join(spool, 'grow.ndjson')
    await writeFile(file, record(1) + '\n' + record(2).slice(0, 5))
    sup = await dir.start({ config: { logLevel: 'silent', plugins: { 'ndjson-source': { options: { spool, finishAfterMs: 60_000 } } } } })
    await until('line 1', async () => (await sup!.call<number[]>('reader.lines')).length === 1)
    await appendFile(file, record(2).slice(5) + '\n' + record(3) + '\n')
    await until('lines 2 and 3', async () => (await sup!.call<number[]>('reader.lines')).join() === '1,2,3')
  })

  it('a source killed mid-file resumes from its checkpoint: every record arrives, none twice beyond a checkpoint', async () => {
    await enable('ndjson-source')
    // A slow reader with a small queue holds the source back, so the kill lands mid-file.
    await dir.add('reader', worker('reader', { isolation: 'thread', queue: { max: 40 } }), consumer(1))
    const N = 3000
    const every = 50
    await writeFile(path.join(spool, 'big.ndjson'), Array.from({ length: N }, (_, i) => record(i + 1)).join('\n') + '\n')
    const store = new MemoryStore()
    sup = await dir.start({ store, config: { logLevel: 'silent', plugins: { 'ndjson-source': { options: { spool, finishAfterMs: 50, checkpointEvery: every }, worker: { restart: { backoffMs: { initial: 10, max: 100 } } } } } } })
    await until('a few hundred records read', async () => (await sup!.call<number[]>('reader.lines')).length >= 500, 30_000)
    const pid = sup.status().plugins.find((p) => p.name === 'ndjson-source')!.instances[0].pid
    process.kill(pid, 'SIGKILL')
    await until('the child is gone', () => !alive(pid))
    await until('the file moved to done/', async () => (await readdir(path.join(spool, 'done'))).includes('big.ndjson'), 60_000)
    const heard = await until('every record', async () => {
      const l = await sup!.call<number[]>('reader.lines')
      return new Set(l).size === N && l
    }, 60_000)
    assert.ok(sup.status().plugins.find((p) => p.name === 'ndjson-source')!.restarts >= 1, 'the source was restarted')
    const twice = heard.length - N
    assert.ok(twice <= every, `${twice} records emitted twice; at most ${every} (one checkpoint interval) may be`)
  })

  it('the sink appends batches to a size-rotated file and keeps the newest rotated files', async () => {
    await enable('ndjson-sink')
    sup = await dir.start({ config: { logLevel: 'silent', plugins: { 'ndjson-sink': { options: { dir: out, name: 'rec', maxBytes: 2048, keep: 2, batch: { max: 10, maxWaitMs: 20 } } } } } })
    for (let i = 1; i <= 200; i++) sup.emit('ndjson:record', { i })
    await until('200 events written', () => sup!.status().plugins.find((p) => p.name === 'ndjson-sink')!.sinks?.['ndjson:record']?.events === 200 && sup!.status().plugins.find((p) => p.name === 'ndjson-sink')!.sinks!['ndjson:record'].written === 20, 20_000)
    const files = (await readdir(out)).sort()
    const rotated = files.filter((f) => /^rec\.\d+\.ndjson$/.test(f)).sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]))
    assert.equal(rotated.length, 2, `kept: ${files.join(', ')}`)
    assert.ok(files.includes('rec.ndjson'))
    const kept = [...rotated, 'rec.ndjson']
    const events = []
    for (const f of kept) {
      const text = await readFile(path.join(out, f), 'utf8')
      assert.ok(Buffer.byteLength(text) <= 2048, `${f} is within maxBytes`)
      for (const line of text.split('\n').filter(Boolean)) events.push(JSON.parse(line))
    }
    // The newest events, in order, ending with the last one; rotation happens between batches only.
    const is = events.map((e) => e.payload.i)
    assert.equal(is.at(-1), 200)
    assert.deepEqual(is, Array.from({ length: is.length }, (_, k) => 200 - is.length + 1 + k))
    assert.equal(is.length % 10, 0)
    assert.equal(events[0].event, 'ndjson:record')
  })

  it('source → sink: records dropped into the spool end up in the sink file', async () => {
    await enable('ndjson-source')
    await enable('ndjson-sink')
    await writeFile(path.join(spool, 'x.ndjson'), [1, 2, 3].map(record).join('\n') + '\n')
    sup = await dir.start({ config: { logLevel: 'silent', plugins: { 'ndjson-source': { options: { spool, finishAfterMs: 50 } }, 'ndjson-sink': { options: { dir: out } } } } })
    const text = await until('three lines in the sink', async () => {
      const t = await readFile(path.join(out, 'events.ndjson'), 'utf8').catch(() => '')
      return t.split('\n').filter(Boolean).length === 3 && t
    }, 20_000)
    const got = text.split('\n').filter(Boolean).map((l) => JSON.parse(l))
    assert.deepEqual(got.map((e) => [e.payload.file, e.payload.line, e.payload.record.i]), [['x.ndjson', 1, 1], ['x.ndjson', 2, 2], ['x.ndjson', 3, 3]])
  })
})
