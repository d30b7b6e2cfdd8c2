/**
 * The log's in-memory tail is bounded by bytes as well as by count: entries of up to 64 KiB
 * each cannot pile up in the heap. Older entries are read from the store, and duplicate checks
 * still reach back `KEEP` entries whatever their size.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import v8 from 'node:v8'
import vm from 'node:vm'
import { LmdbLogStore } from '../src/coordination/lmdb-log-store.js'
import { CoordinationLog } from '../src/coordination/log.js'
import { KEEP, LogTail, TAIL_BYTES } from '../src/coordination/log-tail.js'
import type { LogEntry } from '../src/coordination/types.js'

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void
const heapMb = (): number => {
  gc()
  gc()
  return process.memoryUsage().heapUsed / 1048576
}

/** About 60 KiB of args, a fresh string each (a shared one would cost the heap nothing). */
const BLOB = 60_000
const big = (i: number) => ({ i, blob: String(i).padStart(BLOB, 'x') })
const entry = (seq: number, type: string, args: unknown): LogEntry => ({ seq, type, args, at: seq })

describe('the in-memory tail of the log (LogTail)', () => {
  it('holds at most TAIL_BYTES of args, and at most KEEP entries', () => {
    const tail = new LogTail()
    const count = Math.ceil((TAIL_BYTES * 3) / BLOB)
    for (let s = 1; s <= count; s++) tail.push(entry(s, 'big/put', big(s)))
    assert.ok(tail.bytes <= TAIL_BYTES, `${tail.bytes} bytes held`)
    assert.ok(tail.bytes > TAIL_BYTES - 2 * BLOB, 'it keeps what fits')
    const first = tail.first!
    const held = count - first + 1
    assert.ok(held * BLOB <= TAIL_BYTES && (held + 1) * (BLOB + 20) > TAIL_BYTES, `${held} entries held`)
    assert.equal(tail.slice(first - 1, count), undefined, 'what left memory is for the store')
    assert.deepEqual(tail.slice(count - 1, count)!.map((e) => e.seq), [count - 1, count])

    const small = new LogTail()
    for (let s = 1; s <= KEEP * 3; s++) small.push(entry(s, 'small/put', { s }))
    assert.equal(small.first, KEEP * 2 + 1)
    assert.equal(small.slice(KEEP * 2 + 1, KEEP * 3)!.length, KEEP)
  })

  it('finds a duplicate after its cause even once the entry left memory; different args or an older cause are no duplicate', () => {
    const tail = new LogTail()
    tail.push(entry(1, 'app/ack', { to: 7 }))
    for (let s = 2; s <= 2 + TAIL_BYTES / BLOB; s++) tail.push(entry(s, 'big/put', big(s)))
    assert.ok(tail.first! > 1, 'the ack left memory')
    const dup = tail.duplicate('app/ack', { to: 7 }, 0)
    assert.deepEqual(dup, { seq: 1, type: 'app/ack', args: { to: 7 }, at: 1 })
    assert.ok(Object.isFrozen(dup) && Object.isFrozen(dup!.args))
    assert.equal(tail.duplicate('app/ack', { to: 8 }, 0), undefined)
    assert.equal(tail.duplicate('app/ack', { to: 7 }, 1), undefined, 'only entries after the cause count')
    assert.equal(tail.duplicate('app/nack', { to: 7 }, 0), undefined)
    const last = tail.first! + 1
    assert.equal(tail.duplicate('big/put', big(last), 0), tail.slice(last, last)![0], 'one still in memory is the entry itself')
  })
})

describe('a coordination log with entries of 60 KiB', () => {
  let dir: string
  let log: CoordinationLog
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'outrigger-tail-'))
    log = new CoordinationLog({ store: new LmdbLogStore(dir), snapshotEvery: 1_000_000, handlersOf: () => undefined })
    await log.open()
  })
  afterEach(async () => {
    await log.close()
    await log.store.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('keeps the heap bounded far beyond the byte cap, and reads old entries back from the store', async (t) => {
    const before = heapMb()
    // Six times the cap, in groups of 40 (one write each).
    const count = Math.ceil((TAIL_BYTES * 6) / BLOB)
    for (let s = 1; s <= count; s += 40) {
      await Promise.all(Array.from({ length: Math.min(40, count - s + 1) }, (_, k) => log.append('big/put', big(s + k))))
    }
    const grown = heapMb() - before
    const appendedMb = (count * BLOB) / 1048576
    t.diagnostic(`${count} entries, ${appendedMb.toFixed(1)} MiB of args appended; heap grew ${grown.toFixed(1)} MiB (cap ${TAIL_BYTES / 1048576} MiB)`)
    assert.ok(grown < TAIL_BYTES / 1048576 + 8, `heap grew ${grown.toFixed(1)} MiB for ${appendedMb.toFixed(1)} MiB appended`)

    const old = await log.read(1, 3)
    assert.deepEqual(old.map((e) => e.seq), [1, 2, 3])
    assert.deepEqual(old[1].args, big(2))
    const recent = await log.read(count - 2, 10)
    assert.deepEqual(recent.map((e) => (e.args as { i: number }).i), [count - 2, count - 1, count])
    // A read across the edge of memory comes whole from the store.
    const across = await log.read(count - 200, 201)
    assert.deepEqual(across.map((e) => e.seq), Array.from({ length: 201 }, (_, k) => count - 200 + k))
  })

  it('does not append a reaction twice although the entry it duplicates left memory', async () => {
    const first = await log.append('app/ack', { to: 1 }, 0)
    for (let s = 0; s < TAIL_BYTES / BLOB + 20; s += 20) await Promise.all(Array.from({ length: 20 }, (_, k) => log.append('big/put', big(s + k))))
    const head = log.head
    const again = await log.append('app/ack', { to: 1 }, 0)
    assert.equal(again.seq, first.seq)
    assert.equal(log.head, head, 'nothing appended')
    const later = await log.append('app/ack', { to: 1 }, first.seq)
    assert.equal(later.seq, head + 1, 'an answer to a later entry is a new one')
  })
})
