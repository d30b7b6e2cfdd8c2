/**
 * The dispatcher's retries, holds and hang accounting (src/delivery/dispatcher.ts) driven through
 * scripted instances: which events go out, when, and how the books count them. No thread or
 * process runs here; the behaviour end to end is in hung-hook, blocked-hook, partition-order and
 * retry-backoff.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { SerializedError } from '../src/errors.js'
import { Dispatcher, type DispatchEvents } from '../src/delivery/dispatcher.js'
import type { EventResult, WireEvent } from '../src/hosts/worker-host.js'
import { WorkerSchema } from '../src/manifest/schema.js'
import { FakeInstanceBase } from './helpers/fake-instance.js'
import { until } from './helpers/wait.js'

type Outcome = 'ok' | 'fail' | 'held' | 'timeout'
interface Sent {
  batch: WireEvent[]
  seen: number
  answer(outcomes: Outcome[]): void
}

class ScriptedInstance extends FakeInstanceBase<Sent> {
  run(batch: WireEvent[], seen = 0): Promise<EventResult[]> {
    return new Promise((resolve) => {
      this.sent.push({
        batch,
        seen,
        answer: (outcomes) =>
          resolve(batch.map((e, i): EventResult => {
            const o = outcomes[i] ?? 'ok'
            if (o === 'ok') return { seq: e.seq, ok: true, ms: 1 }
            const error: SerializedError = o === 'timeout' ? { name: 'OutriggerError', code: 'RIG_ERR_HANDLER_TIMEOUT', message: 'did not settle' } : { name: 'Error', message: `failed ${e.seq}` }
            return o === 'held' ? { seq: e.seq, ok: false, ms: 0, held: true, error } : { seq: e.seq, ok: false, ms: 1, error }
          })),
      })
    })
  }
}

function rig(settings: object) {
  const reports: Array<{ event: string; error: unknown }> = []
  const on: DispatchEvents = { report: (event, error) => void reports.push({ event, error }), deadLetter: () => {}, onIdle: () => {}, retired: () => {} }
  const cfg = WorkerSchema.parse(settings)
  const d = new Dispatcher(cfg, on)
  const instances = Array.from({ length: cfg.instances }, (_, id) => new ScriptedInstance(id))
  for (const i of instances) d.attach(i.id, i)
  const books = () => {
    const c = d.counters
    assert.equal(c.received, c.processed + c.failed + c.inFlight + d.depth() + c.dropped + c.rejected + c.lost + c.deadLettered, JSON.stringify({ ...c, depth: d.depth() }))
  }
  return { d, instances, reports, books }
}

const tick = () => new Promise((r) => setImmediate(r))

describe('dispatcher: retries, holds and hangs', () => {
  it('a timed-out hook is failed for good in at-least-once too, and reported with its code', async () => {
    const { d, instances: [w], reports, books } = rig({ delivery: 'at-least-once' })
    for (let i = 0; i < 3; i++) d.enqueue('e:x', 'e:x', i)
    await tick()
    w.sent[0].answer(['ok', 'timeout', 'ok'])
    await tick()
    assert.deepEqual([d.counters.processed, d.counters.failed, d.counters.redelivered], [2, 1, 0])
    assert.equal((reports[0].error as { code?: string }).code, 'RIG_ERR_HANDLER_TIMEOUT')
    books()
  })

  it('waits out the backoff before a retry, and counts the waiting event in the depth', async () => {
    const { d, instances: [w], books } = rig({ delivery: 'at-least-once', retry: { backoffMs: { initial: 40, max: 40 } } })
    d.enqueue('e:x', 'e:x', 'a')
    await tick()
    const failedAt = Date.now()
    w.sent[0].answer(['fail'])
    await tick()
    assert.equal(d.depth(), 1)
    assert.equal(w.sent.length, 1, 'not resent at once')
    books()
    await until('resent', () => w.sent.length === 2)
    assert.ok(Date.now() - failedAt >= 39)
    w.sent[1].answer(['ok'])
    await tick()
    assert.equal(d.counters.processed, 1)
    books()
  })

  it('a failed event holds back its key; events of other keys flow; held ones come back and wait', async () => {
    const { d, instances: [w], books } = rig({ delivery: 'at-least-once', partitionBy: 'k', retry: { backoffMs: { initial: 20, max: 20 } } })
    const ev = (k: string, n: number) => d.enqueue('e:x', 'e:x', { k, n })
    ev('a', 1), ev('a', 2), ev('b', 1)
    await tick()
    ev('a', 3), ev('b', 2)
    await tick()
    assert.equal(w.sent.length, 2)
    assert.equal(w.sent[1].seen, 0)
    // a1 fails; the runtime held a2 back (same batch) and a3 (sent before the host knew).
    w.sent[0].answer(['fail', 'held', 'ok'])
    await tick()
    w.sent[1].answer(['held', 'ok'])
    await tick()
    ev('a', 4), ev('b', 3)
    await tick()
    assert.deepEqual(w.sent[2].batch.map((e) => e.payload), [{ k: 'b', n: 3 }], 'key a waits, key b does not')
    assert.equal(w.sent[2].seen, 1, 'the host tells how many failures it has taken in')
    w.sent[2].answer(['ok'])
    await until('a1 resent', () => w.sent.length === 4)
    assert.deepEqual(w.sent[3].batch.map((e) => e.payload), [{ k: 'a', n: 1 }], 'the retry goes first, alone of its key')
    books()
    w.sent[3].answer(['ok'])
    await tick()
    assert.deepEqual(w.sent[4].batch.map((e) => e.payload), [2, 3, 4].map((n) => ({ k: 'a', n })), 'then the rest of the key, in order')
    w.sent[4].answer(['ok', 'ok', 'ok'])
    await tick()
    assert.equal(d.counters.processed, 7)
    assert.equal(d.counters.redelivered, 1, 'held events were not redeliveries')
    books()
  })

  it('events held back in the batch that failed their key wait behind it, in order, even when a release floods the queue ahead of them', async () => {
    const { d, instances: [w], books } = rig({ delivery: 'at-least-once', partitionBy: 'k', queue: { max: 5000 }, retry: { backoffMs: { initial: 1, max: 1 } } })
    const ev = (k: string, n: number) => d.enqueue('e:x', 'e:x', { k, n })
    ev('b', 1)
    await tick()
    ev('a', 1), ev('a', 2)
    await tick()
    // b1 fails for good while [a1, a2] is out: b's later events wait until that batch is in.
    w.sent[0].answer(['timeout'])
    await tick()
    ev('a', 3)
    await tick()
    for (let n = 2; n <= 3000; n++) ev('b', n)
    await tick()
    assert.equal(w.sent.length, 3, 'b2.. wait behind b1')
    // a1 fails, a2 comes back unrun; the same answer releases b: 2,999 events to the front of the queue.
    w.sent[1].answer(['fail', 'held'])
    await tick()
    w.sent[2].answer(['held'])
    await until('a1 back from its backoff', () => d.counters.redelivered === 1)
    // Answer every batch in order; a1's retry goes out in front of far more than a batch of b.
    const ran: number[] = []
    for (let next = 3; !d.idle(); next++) {
      await until(`batch ${next} sent`, () => w.sent.length > next)
      for (const e of w.sent[next].batch) if ((e.payload as { k: string }).k === 'a') ran.push((e.payload as { n: number }).n)
      w.sent[next].answer([])
      await tick()
    }
    assert.deepEqual(ran, [1, 2, 3], 'a2 goes before a3, which waited behind a1 too')
    books()
  })

  it('events held back behind a failure that settles for good go back in their order', async () => {
    const { d, instances: [w], books } = rig({ delivery: 'at-least-once', partitionBy: 'k' })
    for (let n = 1; n <= 3; n++) d.enqueue('e:x', 'e:x', { k: 'a', n })
    await tick()
    w.sent[0].answer(['timeout', 'held', 'held'])
    await tick()
    assert.deepEqual(w.sent[1].batch.map((e) => e.payload), [2, 3].map((n) => ({ k: 'a', n })))
    books()
  })

  it('a hang kill: a lone event is named; a batch goes back as suspects one by one; batches behind it never started', async () => {
    const { d, instances: [w], reports, books } = rig({ delivery: 'at-least-once', maxAttempts: 1 })
    for (let i = 0; i < 600; i++) d.enqueue('e:x', 'e:x', i)
    await tick()
    const [first, ...behind] = w.sent
    d.detach(0, new Error('killed'), { hung: true })
    assert.equal(d.counters.redelivered, first.batch.length, 'only the running batch may have run')
    books()
    const back = new ScriptedInstance(0)
    d.attach(0, back)
    assert.deepEqual(back.sent.map((s) => s.batch.length), [1, 1, 1, 1], 'suspects go out alone')
    assert.deepEqual(back.payloads(), [0, 1, 2, 3])
    // The second event blocks again: this kill names it, even with maxAttempts 1 used up by none.
    back.sent[0].answer(['ok'])
    await tick()
    d.detach(0, new Error('killed again'), { hung: true })
    assert.equal(d.counters.failed, 1)
    assert.equal((reports[0].error as { code?: string }).code, 'RIG_ERR_HANDLER_TIMEOUT')
    assert.equal(d.counters.deadLettered, 0, 'no innocent event was charged')
    const last = new ScriptedInstance(0)
    d.attach(0, last)
    for (let n = 0; n < 700 && d.counters.processed + d.counters.failed < 600; n++) {
      for (const s of last.sent.filter((s) => !(s as { done?: boolean }).done)) {
        ;(s as { done?: boolean }).done = true
        s.answer([])
      }
      await tick()
    }
    assert.deepEqual([d.counters.processed, d.counters.failed, d.counters.lost], [599, 1, 0])
    assert.ok(behind.length > 0)
    books()
  })
})
