/** The bounded, partitioned event queue of a worker plugin (src/delivery/queue.ts). */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { EventQueue, type Pending } from '../src/delivery/queue.js'

let seq = 0
const ev = (partition = 0, event = 'e:x'): Pending => ({ seq: seq++, event, subscription: event, payload: null, attempts: 0, partition })
const seqs = (ps: Pending[]) => ps.map((p) => p.seq)

describe('event queue', () => {
  it('is first in, first out within a partition, and counts its depth', () => {
    const q = new EventQueue(1, 100)
    const a = [ev(), ev(), ev()]
    for (const p of a) assert.equal(q.push(p, 'reject'), undefined)
    assert.equal(q.depth, 3)
    assert.deepEqual(seqs(q.take(0, 2)), seqs(a.slice(0, 2)))
    assert.equal(q.depth, 1)
    assert.deepEqual(seqs(q.take(0, 10)), seqs(a.slice(2)))
    assert.equal(q.depth, 0)
    assert.deepEqual(q.take(0, 10), [])
  })

  it('keeps partitions apart', () => {
    const q = new EventQueue(2, 100)
    const [a, b, c] = [ev(0), ev(1), ev(0)]
    for (const p of [a, b, c]) q.push(p, 'reject')
    assert.equal(q.length(0), 2)
    assert.equal(q.length(1), 1)
    assert.deepEqual(seqs(q.take(1, 10)), [b.seq])
    assert.deepEqual(seqs(q.take(0, 10)), [a.seq, c.seq])
  })

  it('when full, drop-newest and reject hand back the new event and keep the rest', () => {
    for (const overflow of ['drop-newest', 'reject'] as const) {
      const q = new EventQueue(1, 2)
      const [a, b, c] = [ev(), ev(), ev()]
      q.push(a, overflow)
      q.push(b, overflow)
      assert.equal(q.push(c, overflow), c)
      assert.equal(q.depth, 2)
      assert.deepEqual(seqs(q.take(0, 10)), [a.seq, b.seq])
    }
  })

  it('when full, drop-oldest drops the oldest of the same partition, else of the longest one', () => {
    const q = new EventQueue(2, 3)
    const [a, b, c] = [ev(0), ev(0), ev(1)]
    for (const p of [a, b, c]) q.push(p, 'drop-oldest')
    const d = ev(1)
    assert.equal(q.push(d, 'drop-oldest'), c, 'its own partition first')
    const q2 = new EventQueue(2, 2)
    const [e, f] = [ev(0), ev(0)]
    q2.push(e, 'drop-oldest')
    q2.push(f, 'drop-oldest')
    const g = ev(1)
    assert.equal(q2.push(g, 'drop-oldest'), e, 'its own partition is empty: the longest gives one up')
    assert.equal(q2.depth, 2)
    assert.deepEqual(seqs(q2.take(1, 10)), [g.seq])
  })

  it('puts redeliveries back at the front, in their original order', () => {
    const q = new EventQueue(1, 100)
    const [a, b, c] = [ev(), ev(), ev()]
    for (const p of [a, b, c]) q.push(p, 'reject')
    const sent = q.take(0, 2)
    q.requeue(sent)
    assert.equal(q.depth, 3)
    assert.deepEqual(seqs(q.take(0, 10)), [a.seq, b.seq, c.seq])
  })

  it('empties every partition at once, even with hundreds of thousands queued', () => {
    const q = new EventQueue(2, 300_000)
    for (let i = 0; i < 200_000; i++) q.push(ev(i % 2), 'reject')
    const all = q.drainAll()
    assert.equal(all.length, 200_000)
    assert.equal(q.depth, 0)
    assert.equal(q.length(0) + q.length(1), 0)
  })
})
