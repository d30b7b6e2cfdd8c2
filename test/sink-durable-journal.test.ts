/**
 * A durable sink's journal: the events a sink gathers are journaled one by one, and the batch
 * that leaves takes their place in one transaction (`Journal.replace`, src/delivery/durable-sink.ts).
 * In process first, then a child gathering without end over a real journal, SIGKILLed again and
 * again: whatever was promised is on disk after each kill, as gathered events or inside a batch,
 * never both, never neither.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { gatheredFor, gatheredMeta } from '../src/delivery/durable-sink.js'
import { Journal, type JournalEntry } from '../src/delivery/journal.js'
import type { OutriggerError } from '../src/errors.js'
import { leftIn } from './helpers/journal-left.js'
import { alive, until } from './helpers/wait.js'

const writer = fileURLToPath(new URL('./helpers/sink-journal-writer.js', import.meta.url))
const SUB = 'sinks["log:*"]'


describe('durable sink journal', () => {
  let root: string
  let dir: string
  const children = new Set<ChildProcess>()
  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'outrigger-sink-journal-'))
    dir = path.join(root, 'journal', 'plugin')
  })
  afterEach(async () => {
    for (const c of children) if (c.pid && alive(c.pid)) c.kill('SIGKILL')
    children.clear()
    await rm(root, { recursive: true, force: true })
  })

  it('a batch replaces its gathered events, committed or not, in the same commit', async () => {
    const a = Journal.open(dir, { commitMs: 5 })
    const early = [0, 1, 2].map((id) => a.append('log:x', { id }, gatheredMeta(SUB)))
    await a.flush()
    const late = [3, 4].map((id) => a.append('log:x', { id }, gatheredMeta(SUB)))
    const other = a.append('order:new', { id: 99 }, 'order:*')
    assert.deepEqual(a.refuseUncloneable([...early, ...late]), [])
    const batch = a.replace([...early, ...late], SUB, [0, 1, 2, 3, 4].map((id) => ({ event: 'log:x', payload: { id } })), SUB)
    await a.close()
    assert.equal(a.stats.elided, 2, 'the gathered events not committed yet were never written')

    const back = await leftIn(dir)
    assert.deepEqual(back.map((e) => e.seq), [other, batch], 'the batch, not its events; the other event untouched')
    assert.equal(back[1].meta, SUB)
    assert.deepEqual((back[1].payload as Array<{ payload: { id: number } }>).map((i) => i.payload.id), [0, 1, 2, 3, 4])
    assert.equal(gatheredFor(back[0].meta), undefined)
    assert.equal(gatheredFor(gatheredMeta(SUB)), SUB)
  })

  it('gathered events not replaced yet are read back as such, with their meta', async () => {
    const a = Journal.open(dir, { commitMs: 5 })
    const seqs = [0, 1, 2].map((id) => a.append('log:x', { id }, gatheredMeta(SUB)))
    await a.close()
    const b = Journal.open(dir, { commitMs: 5 })
    const back = [...b.recover()]
    assert.deepEqual(back.map((e) => [e.seq, gatheredFor(e.meta)]), seqs.map((s) => [s, SUB]))
    // Gathered again in the next run, then replaced under their own numbers.
    b.replace(seqs, SUB, back.map((e) => ({ event: e.event, payload: e.payload })), SUB)
    await b.close()
    const left = await leftIn(dir)
    assert.equal(left.length, 1)
    assert.equal(left[0].meta, SUB)
  })

  it('refuseUncloneable refuses the bad gathered events still buffered, alone, before their batch is built', async () => {
    const refused: Array<[number, string, unknown]> = []
    const a = Journal.open(dir, { commitMs: 60_000, onRefused: (seq, err, meta) => refused.push([seq, err.code, meta]) })
    const good = a.append('log:x', { id: 0 }, gatheredMeta(SUB))
    const bad = a.append('log:x', { id: 1, fn: () => 1 }, gatheredMeta(SUB))
    const waiting = a.committed(bad).then(() => 'committed', (err: OutriggerError) => err.code)
    assert.deepEqual(a.refuseUncloneable([good, bad]), [bad])
    assert.deepEqual(refused, [[bad, 'RIG_ERR_NOT_CLONEABLE', [SUB]]])
    a.replace([good], SUB, [{ event: 'log:x', payload: { id: 0 } }], SUB)
    await a.close()
    assert.equal(await waiting, 'RIG_ERR_NOT_CLONEABLE')
    const left = await leftIn(dir)
    assert.deepEqual(left.map((e) => e.meta), [SUB])
  })

  it('SIGKILLed again and again while gathering: every promised id is on disk or written, never both as gathered and in a batch', async (t) => {
    const RUNS = 6
    const promised = new Set<number>()
    const written = new Map<number, number>()
    let duplicatesOnDisk = 0
    let readBack = { members: 0, batches: 0 }
    /** Runs the child; resolves with what it read back at its start, once it exited. */
    const run = async (first: number, mode: 'run' | 'final', killAfterMs = 0) => {
      const child = spawn(process.execPath, [writer, dir, String(first), mode], { stdio: ['ignore', 'pipe', 'inherit'] })
      children.add(child)
      const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)))
      const members: number[] = []
      const batches: number[][] = []
      let promises = 0
      let done = false
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const [word, arg] = line.split(' ')
        if (word === 'member') members.push(Number(arg))
        else if (word === 'batch') batches.push(arg.split(',').map(Number))
        else if (word === 'written') for (const id of arg.split(',').map(Number)) written.set(id, (written.get(id) ?? 0) + 1)
        else if (word === 'promised') {
          promises++
          for (let id = first; id <= Number(arg); id++) promised.add(id)
        } else if (word === 'done') done = true
      })
      if (mode === 'run') {
        await until('the child promised ids', () => promises > 3, 20_000)
        await new Promise((r) => setTimeout(r, killAfterMs))
        child.kill('SIGKILL')
        assert.equal(await exited, 'SIGKILL')
      } else {
        assert.equal(await exited, 0)
        assert.ok(done)
      }
      return { members, batches }
    }
    /** What run `at` read back, against what was promised and written before it started. */
    const check = (at: string, before: { promised: number[]; written: Set<number> }, back: { members: number[]; batches: number[][] }) => {
      const onDisk = new Map<number, number>()
      for (const id of [...back.members, ...back.batches.flat()]) onDisk.set(id, (onDisk.get(id) ?? 0) + 1)
      const both = [...onDisk].filter(([, n]) => n > 1).map(([id]) => id)
      duplicatesOnDisk += both.length
      assert.deepEqual(both.slice(0, 10), [], `${at}: ${both.length} ids on disk twice (gathered and in a batch, or in two batches)`)
      const lost = before.promised.filter((id) => !onDisk.has(id) && !before.written.has(id))
      assert.deepEqual(lost.slice(0, 10), [], `${at}: ${lost.length} promised ids neither on disk nor written`)
      readBack = { members: readBack.members + back.members.length, batches: readBack.batches + back.batches.length }
    }
    const snapshot = () => ({ promised: [...promised], written: new Set(written.keys()) })
    for (let r = 0; r < RUNS; r++) {
      // Each run gathers ids of its own range; it reads back first what the run before left.
      const before = snapshot()
      check(`run ${r}`, before, await run(r * 1_000_000, 'run', 50 + Math.random() * 250))
    }
    const before = snapshot()
    check('final', before, await run(RUNS * 1_000_000, 'final'))
    const lost = [...promised].filter((id) => !written.has(id))
    assert.deepEqual(lost.slice(0, 10), [], `${lost.length} promised ids never written`)
    assert.deepEqual(await leftIn(dir), [], 'the final run left nothing behind')
    assert.ok(readBack.members > 0, 'gathered ids were read back after a kill')
    let duplicates = 0
    for (const n of written.values()) if (n > 1) duplicates += n - 1
    t.diagnostic(`${promised.size} ids promised over ${RUNS} SIGKILLs, ${written.size} written, ${duplicates} written twice (a batch written, then killed before its commit); read back: ${readBack.members} gathered ids, ${readBack.batches} batches; on disk twice: ${duplicatesOnDisk}`)
  })
})
