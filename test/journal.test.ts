import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Journal, type JournalEntry } from '../src/delivery/journal.js'
import { OutriggerError } from '../src/errors.js'
import { leftIn } from './helpers/journal-left.js'

const writer = fileURLToPath(new URL('./helpers/journal-writer.js', import.meta.url))


const isCode = (code: string) => (err: unknown) => err instanceof OutriggerError && err.code === code

describe('durable delivery journal', () => {
  let root: string
  let dir: string
  const open: Journal[] = []
  const j = (opts?: Parameters<typeof Journal.open>[1]) => {
    const journal = Journal.open(dir, opts)
    open.push(journal)
    return journal
  }
  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'outrigger-journal-'))
    dir = path.join(root, 'journal', 'plugin')
  })
  afterEach(async () => {
    await Promise.all(open.splice(0).map((x) => x.close()))
    await rm(root, { recursive: true, force: true })
  })

  it('returns what an earlier run left, in append order, as the worker would receive it', async () => {
    const a = j()
    const payloads = Array.from({ length: 1000 }, (_, i) => ({ i, when: new Date(i), tags: new Map([[i, 'x']]), gone: undefined, big: BigInt(i) }))
    const seqs = payloads.map((p, i) => a.append(i % 2 ? 'shop:order' : 'shop:refund', p, { key: `k${i % 7}` }))
    assert.deepEqual(seqs, payloads.map((_, i) => seqs[0] + i), 'numbers follow append order')
    await a.close()

    const b = j()
    const back = [...b.recover()]
    assert.deepEqual(back.map((e) => e.seq), seqs)
    assert.deepEqual(back.map((e) => e.payload), payloads, 'Map, Date, bigint and undefined survive as structured clone keeps them')
    assert.deepEqual(back.map((e) => e.event), payloads.map((_, i) => (i % 2 ? 'shop:order' : 'shop:refund')))
    assert.deepEqual(back.map((e) => e.meta), payloads.map((_, i) => ({ key: `k${i % 7}` })))
    assert.ok(back.every((e) => e.attempts === 0))
    assert.equal(b.stats.recovered, 1000)

    // A second run appends after the first one's numbers; recovery only ever returns the earlier runs'.
    const more = Array.from({ length: 10 }, (_, i) => b.append('shop:order', { i: 1000 + i }))
    assert.ok(more[0] > seqs[seqs.length - 1])
    assert.equal([...b.recover()].length, 1000, 'this run’s appends are not recovered by this run')
    await b.close()

    const all = await leftIn(dir)
    assert.deepEqual(all.map((e) => e.seq), [...seqs, ...more])
    assert.deepEqual(all.map((e) => (e.payload as { i: number }).i), Array.from({ length: 1010 }, (_, i) => i))
  })

  it('recovers from a given number, lazily', async () => {
    const a = j()
    for (let i = 0; i < 100; i++) a.append('x:y', i)
    await a.close()
    const b = j()
    const it = b.recover(51)
    assert.deepEqual(it.next().value?.payload, 50)
    assert.deepEqual([...it].map((e) => e.payload), Array.from({ length: 49 }, (_, i) => 51 + i))
  })

  it('removes acked entries; an entry acked before its commit is never written', async () => {
    const a = j({ commitMs: 60_000 })
    const seqs = Array.from({ length: 100 }, (_, i) => a.append('x:y', { i }))
    await a.flush()
    for (const s of seqs) if (s % 2 === 0) a.ack(s)
    const early = a.append('x:y', { i: 'acked at once' })
    a.ack(early)
    await a.flush()
    assert.equal(a.stats.elided, 1)
    // Removes are batched: without a flush they go with the close.
    a.ack(seqs[2])
    await a.close()
    const left = await leftIn(dir)
    assert.deepEqual(left.map((e) => e.seq), seqs.filter((s) => s % 2 === 1 && s !== seqs[2]))
  })

  it('deletes a record once all its entries are acked, including acks that arrive while it commits', async () => {
    const a = j({ commitMs: 60_000 })
    const seqs = Array.from({ length: 1000 }, (_, i) => a.append('x:y', i))
    const writing = a.flush()
    // The record is handed to lmdb but not committed yet: these acks go with the next commit.
    for (const s of seqs) a.ack(s)
    await writing
    await a.close()
    const b = j()
    assert.equal(b.recoveredLastSeq, 0, 'nothing left: the record is gone')
    assert.deepEqual([...b.recover()], [])
    assert.ok(b.append('x:y', 'next') > seqs[seqs.length - 1], 'numbers go on after an empty journal too')
  })

  it('skips recovered entries acked in this run, and keeps attempt counts until the ack', async () => {
    const a = j()
    const seqs = Array.from({ length: 5 }, (_, i) => a.append('x:y', i))
    a.recordAttempt(seqs[1], 2)
    a.recordAttempt(seqs[3], 1)
    await a.close()
    const b = j()
    assert.deepEqual([...b.recover()].map((e) => [e.seq, e.attempts]), seqs.map((s, i) => [s, i === 1 ? 2 : i === 3 ? 1 : 0]))
    b.ack(seqs[0])
    b.ack(seqs[1])
    b.recordAttempt(seqs[3], 2)
    assert.deepEqual([...b.recover()].map((e) => e.seq), seqs.slice(2), 'acked ones are skipped before their removal is committed')
    await b.close()
    assert.deepEqual((await leftIn(dir)).map((e) => [e.seq, e.attempts]), [[seqs[2], 0], [seqs[3], 2], [seqs[4], 0]])
  })

  it('refuses an uncloneable payload alone, with a clear error, and keeps the rest of its batch', async () => {
    const refused: Array<[number, unknown]> = []
    const a = j({ onRefused: (seq, err) => refused.push([seq, err]) })
    a.append('x:ok', 1)
    const fn = a.append('x:bad', { f() {} })
    const sym = a.append('x:bad', { s: Symbol('s') })
    const metaFn = a.append('x:bad', 1, { cb: () => 1 })
    a.append('x:ok', 2)
    // appendDurable refuses by rejecting, never by throwing at the caller.
    const durable = a.appendDurable('x:bad', { f() {} })
    await assert.rejects(durable, (err: unknown) => isCode('RIG_ERR_NOT_CLONEABLE')(err) && /event "x:bad".*cannot be structured-cloned/.test((err as Error).message))
    await a.flush()
    assert.deepEqual(refused.map(([seq]) => seq).slice(0, 3), [fn, sym, metaFn])
    assert.equal(refused.length, 4)
    assert.ok(refused.every(([, err]) => isCode('RIG_ERR_NOT_CLONEABLE')(err)))
    assert.equal(a.stats.refused, 4)
    await a.close()
    assert.deepEqual((await leftIn(dir)).map((e) => [e.event, e.payload]), [['x:ok', 1], ['x:ok', 2]])
  })

  it('flush commits at once, without waiting for the window; committed(seq) follows the batches in order', async () => {
    const a = j({ commitMs: 60_000 })
    const s1 = a.append('x:y', 1)
    const order: string[] = []
    const c1 = a.committed(s1).then(() => order.push('c1'))
    await a.flush().then(() => order.push('flush1'))
    await c1
    const s2 = a.append('x:y', 2)
    const c2 = a.committed(s2).then(() => order.push('c2'))
    const all = a.committed().then(() => order.push('all'))
    await a.flush().then(() => order.push('flush2'))
    await Promise.all([c2, all])
    assert.deepEqual([...order].sort(), ['all', 'c1', 'c2', 'flush1', 'flush2'])
    assert.ok(order.indexOf('c1') < order.indexOf('c2') && order.indexOf('flush1') < order.indexOf('c2'))
    await a.committed(s1) // long committed: resolves at once
  })

  it('keeps order and numbers under many concurrent producers', async () => {
    const a = j({ commitMs: 1 })
    const PRODUCERS = 200
    const EACH = 250
    const committedOrder: number[] = []
    const seen: number[] = []
    await Promise.all(
      Array.from({ length: PRODUCERS }, async (_, p) => {
        for (let k = 0; k < EACH; k++) {
          if (k % 25 === 0) {
            const seq = await a.appendDurable('load:x', { p, k })
            committedOrder.push(seq)
            seen.push(seq)
          } else {
            const seq = a.append('load:x', { p, k })
            seen.push(seq)
            if (k % 10 === 0) await a.committed(seq)
            else if (k % 3 === 0) await new Promise((r) => setImmediate(r))
          }
        }
      }),
    )
    await a.close()
    assert.equal(new Set(seen).size, PRODUCERS * EACH, 'every append got its own number')
    const left = await leftIn(dir)
    assert.equal(left.length, PRODUCERS * EACH)
    for (let i = 1; i < left.length; i++) assert.ok(left[i].seq > left[i - 1].seq)
    const lastK = new Map<number, number>()
    for (const e of left) {
      const { p, k } = e.payload as { p: number; k: number }
      assert.equal(k, (lastK.get(p) ?? -1) + 1, `producer ${p}: its events come back in its order`)
      lastK.set(p, k)
    }
  })

  it('answers RIG_ERR_JOURNAL for a folder it cannot use or that is already open, RIG_ERR_CLOSED after close', async () => {
    const file = path.join(root, 'not-a-folder')
    await writeFile(file, 'x')
    assert.throws(() => Journal.open(file), (err: unknown) => isCode('RIG_ERR_JOURNAL')(err) && (err as Error).message.includes(file))
    const a = j()
    assert.throws(() => Journal.open(dir), isCode('RIG_ERR_JOURNAL'))
    await a.close()
    assert.throws(() => a.append('x:y', 1), isCode('RIG_ERR_CLOSED'))
    a.ack(1) // harmless
    assert.throws(() => Journal.open(dir, { commitMs: -1 }), RangeError)
  })

  for (const sync of ['disk', 'os'] as const) {
    it(`keeps every committed entry, in order, across SIGKILLs of the writing process (sync: ${sync})`, async () => {
      const runs: Array<{ base: number; flushed: number; acked: number; durable: number[] }> = []
      for (let run = 0; run < 2; run++) runs.push(await writeThenKill(dir, sync))
      const left = await leftIn(dir)
      const seqs = left.map((e) => e.seq)
      for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], 'recovered in append order')
      assert.ok(runs[1].base > runs[0].flushed, 'the second run numbers after everything the first one committed')
      const have = new Map(left.map((e) => [e.seq, e.payload as { n: number }]))
      for (const r of runs) {
        assert.ok(r.flushed > r.base && r.durable.length > 0 && r.acked > r.base, `the run got far enough to test something: ${JSON.stringify(r)}`)
        for (let seq = r.base; seq <= r.flushed; seq++) {
          const n = seq - r.base + 1
          if (n % 10 === 0 && seq <= r.acked) assert.ok(!have.has(seq), `seq ${seq} was acked, and the ack committed`)
          else if (n % 10 !== 0) assert.equal(have.get(seq)?.n, n, `seq ${seq} was committed by a flush that resolved`)
        }
        // (Every tenth entry is acked once committed: whether that removal committed before the kill is unknown past r.acked.)
        for (const seq of r.durable) if ((seq - r.base + 1) % 10 !== 0) assert.ok(have.has(seq), `appendDurable resolved for ${seq}`)
      }
    })
  }
})

/**
 * Runs the writer child on `dir` until it has reported 30 resolved flushes, then SIGKILLs it while
 * it keeps appending; returns the highest numbers it reported committed.
 */
async function writeThenKill(dir: string, sync: 'os' | 'disk') {
  const child = spawn(process.execPath, [writer, dir, sync], { stdio: ['ignore', 'pipe', 'pipe'] })
  const report = { base: 0, flushed: 0, acked: 0, durable: [] as number[] }
  let flushes = 0
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)))
  try {
    await new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`the writer reported ${flushes} flushes in 60 s; stderr: ${stderr}`)), 60_000)
      let buf = ''
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString()
        const lines = buf.split('\n')
        buf = lines.pop() ?? ''
        for (const line of lines) {
          const [what, v] = line.split(' ')
          const seq = Number(v)
          if (what === 'base') report.base = seq
          else if (what === 'flushed') {
            report.flushed = Math.max(report.flushed, seq)
            flushes++
          } else if (what === 'acked') report.acked = Math.max(report.acked, seq)
          else if (what === 'durable') report.durable.push(seq)
        }
        if (flushes >= 30 && report.durable.length && report.acked) {
          // Mid-stream: the child is appending and committing as it dies.
          child.kill('SIGKILL')
          clearTimeout(deadline)
          resolve()
        }
      })
      void exited.then((how) => reject(new Error(`the writer exited on its own (${how}); stderr: ${stderr}`)))
    })
    assert.equal(await exited, 'SIGKILL')
  } finally {
    child.kill('SIGKILL')
  }
  return report
}
