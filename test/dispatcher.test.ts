/**
 * The dispatcher (src/delivery/dispatcher.ts) driven through fake instances: batching, the
 * in-flight window, sharing, partitions, failures, redelivery, dead letters and retirement, with
 * the books checked after each. No thread or process runs here.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { OutriggerError, type SerializedError } from '../src/errors.js'
import { BATCH_MAX, Dispatcher, INFLIGHT_BATCHES, type DispatchEvents } from '../src/delivery/dispatcher.js'
import type { Pending } from '../src/delivery/queue.js'
import type { EventResult, WireEvent } from '../src/hosts/worker-host.js'
import { WorkerSchema } from '../src/manifest/schema.js'
import { FakeInstanceBase } from './helpers/fake-instance.js'

/** A batch handed to a fake instance, answered when the test says so. */
interface Sent {
  batch: WireEvent[]
  /** Answers every event ok, except those at the `failed` positions. */
  ack(failed?: number[]): void
  refuse(err: Error): void
}

class FakeInstance extends FakeInstanceBase<Sent> {
  run(batch: WireEvent[]): Promise<EventResult[]> {
    return new Promise((resolve, reject) => {
      this.sent.push({
        batch,
        ack: (failed = []) =>
          resolve(batch.map((e, i): EventResult => (failed.includes(i) ? { seq: e.seq, ok: false, ms: 1, error: { name: 'Error', message: `hook failed on ${e.seq}` } } : { seq: e.seq, ok: true, ms: 1 }))),
        refuse: reject,
      })
    })
  }
}

function rig(settings: object = {}) {
  const reports: Array<{ event: string; error: unknown }> = []
  const dead: Array<{ p: Pending; error: SerializedError | null }> = []
  const retired: number[] = []
  let idle = 0
  const on: DispatchEvents = {
    report: (event, error) => void reports.push({ event, error }),
    deadLetter: (p, error) => void dead.push({ p, error }),
    onIdle: () => void idle++,
    retired: (id) => void retired.push(id),
  }
  const cfg = WorkerSchema.parse(settings)
  const d = new Dispatcher(cfg, on)
  const instances = Array.from({ length: cfg.instances }, (_, id) => new FakeInstance(id))
  for (const i of instances) d.attach(i.id, i)
  const books = () => {
    const c = d.counters
    assert.equal(c.received, c.processed + c.failed + c.inFlight + d.depth() + c.dropped + c.rejected + c.lost + c.deadLettered, JSON.stringify({ ...c, depth: d.depth() }))
  }
  return { d, instances, reports, dead, retired, idle: () => idle, books }
}

/** Lets queued microtasks run (the end-of-tick flush, acks). */
const tick = () => new Promise((r) => setImmediate(r))

describe('dispatcher', () => {
  it('sends what was emitted in one tick as one batch, after the tick', async () => {
    const { d, instances: [w], idle, books } = rig()
    for (let i = 0; i < 3; i++) d.enqueue('e:*', 'e:x', { i })
    assert.equal(w.sent.length, 0, 'nothing leaves during emit')
    await tick()
    assert.equal(w.sent.length, 1)
    assert.deepEqual(w.sent[0].batch.map((e) => [e.event, e.subscription, e.payload]), [0, 1, 2].map((i) => ['e:x', 'e:*', { i }]))
    assert.equal(d.counters.inFlight, 3)
    books()
    w.sent[0].ack()
    await tick()
    assert.equal(d.counters.processed, 3)
    assert.equal(idle(), 1)
    assert.equal(d.latency.percentiles().p50, 1)
    books()
  })

  it('sends a full batch at once, and keeps at most INFLIGHT_BATCHES per instance', async () => {
    const { d, instances: [w], books } = rig()
    const total = BATCH_MAX * (INFLIGHT_BATCHES + 2)
    for (let i = 0; i < BATCH_MAX; i++) d.enqueue('e:x', 'e:x', i)
    assert.equal(w.sent.length, 1, 'a full batch does not wait for the tick')
    for (let i = BATCH_MAX; i < total; i++) d.enqueue('e:x', 'e:x', i)
    await tick()
    assert.equal(w.sent.length, INFLIGHT_BATCHES)
    assert.equal(d.depth(), total - INFLIGHT_BATCHES * BATCH_MAX)
    books()
    w.sent[0].ack()
    await tick()
    assert.equal(w.sent.length, INFLIGHT_BATCHES + 1, 'an answer makes room for the next batch')
    for (const s of w.sent.slice(1)) s.ack()
    await tick()
    for (const s of w.sent.slice(INFLIGHT_BATCHES + 1)) s.ack()
    await tick()
    assert.deepEqual(w.payloads(), Array.from({ length: total }, (_, i) => i), 'in order')
    assert.equal(d.counters.processed, total)
    books()
  })

  it('shares a burst evenly among instances with room', async () => {
    const { d, instances } = rig({ instances: 2 })
    for (let i = 0; i < 10; i++) d.enqueue('e:x', 'e:x', i)
    await tick()
    assert.deepEqual(instances.map((w) => w.payloads().length), [5, 5])
  })

  it('sends a partition only to the instance of the same id, which it waits for', async () => {
    const { d, instances, books } = rig({ instances: 2, partitionBy: 'k' })
    d.detach(1, new Error('gone'))
    for (let i = 0; i < 20; i++) d.enqueue('e:x', 'e:x', { k: `key-${i % 5}`, i })
    await tick()
    const onZero = instances[0].payloads() as Array<{ k: string }>
    assert.ok(onZero.length > 0 && onZero.length < 20)
    assert.equal(d.depth(), 20 - onZero.length, 'the other partition waits for its instance')
    books()
    const back = new FakeInstance(1)
    d.attach(1, back)
    const keysOne = new Set((back.payloads() as Array<{ k: string }>).map((p) => p.k))
    const keysZero = new Set(onZero.map((p) => p.k))
    assert.ok([...keysOne].every((k) => !keysZero.has(k)), 'no key on both')
  })

  it('at-most-once: a failing hook counts as failed and is reported; a dead instance loses what it held', async () => {
    const { d, instances: [w], reports, books } = rig()
    for (let i = 0; i < 4; i++) d.enqueue('e:x', 'e:x', i)
    await tick()
    w.sent[0].ack([1])
    await tick()
    assert.deepEqual([d.counters.processed, d.counters.failed], [3, 1])
    assert.match((reports[0].error as Error).message, /hook failed/)
    d.enqueue('e:x', 'e:x', 9)
    await tick()
    d.detach(0, new Error('crashed'))
    assert.equal(d.counters.lost, 1)
    assert.equal(d.counters.inFlight, 0)
    books()
  })

  it('at-least-once: redelivers in order to another instance, then dead-letters after maxAttempts', async () => {
    const { d, instances: [a, b], dead, books } = rig({ instances: 2, delivery: 'at-least-once', maxAttempts: 2 })
    for (let i = 0; i < 4; i++) d.enqueue('e:x', 'e:x', i)
    await tick()
    const onA = a.payloads()
    d.detach(0, new Error('crashed'))
    await tick()
    assert.equal(d.counters.redelivered, onA.length)
    assert.deepEqual(b.sent.at(-1)!.batch.map((e) => e.payload), onA, 'the same events, in their order')
    books()
    // The redelivery was the second attempt: a failure now is the last one.
    b.sent.at(-1)!.ack([0])
    await tick()
    assert.equal(dead.length, 1)
    assert.deepEqual([dead[0].p.payload, dead[0].p.attempts], [onA[0], 2])
    assert.equal(d.counters.deadLettered, 1)
    for (const s of b.sent) s.ack()
    await tick()
    books()
  })

  it('rejects only the payloads that cannot be cloned, and sends the rest again without counting an attempt', async () => {
    const { d, instances: [w], reports, books } = rig({ delivery: 'at-least-once', maxAttempts: 1 })
    d.enqueue('e:x', 'e:x', { ok: 1 })
    d.enqueue('e:x', 'e:x', { bad: () => 1 })
    d.enqueue('e:x', 'e:x', { ok: 2 })
    await tick()
    w.sent[0].refuse(new OutriggerError('RIG_ERR_NOT_CLONEABLE', 'could not be cloned'))
    await tick()
    assert.equal(d.counters.rejected, 1)
    assert.equal((reports[0].error as OutriggerError).code, 'RIG_ERR_NOT_CLONEABLE')
    assert.deepEqual(w.sent[1].batch.map((e) => e.payload), [{ ok: 1 }, { ok: 2 }])
    w.sent[1].ack()
    await tick()
    assert.equal(d.counters.processed, 2, 'maxAttempts 1 was not used up by the refused send')
    books()
  })

  it('with overflow reject, refuses what does not fit and reports RIG_ERR_QUEUE_FULL', async () => {
    const { d, reports, books } = rig({ queue: { max: 2, overflow: 'reject' } })
    d.detach(0, new Error('nobody takes work'))
    for (let i = 0; i < 5; i++) d.enqueue('e:x', 'e:x', i)
    assert.equal(d.counters.dropped, 3)
    assert.deepEqual(reports.map((r) => (r.error as OutriggerError).code), ['RIG_ERR_QUEUE_FULL', 'RIG_ERR_QUEUE_FULL', 'RIG_ERR_QUEUE_FULL'])
    books()
  })

  it('a retired instance takes no new work and says when it has answered everything', async () => {
    const { d, instances: [a, b], retired } = rig({ instances: 2 })
    for (let i = 0; i < 4; i++) d.enqueue('e:x', 'e:x', i)
    await tick()
    assert.equal(d.retire(0), false, 'it still holds a batch')
    for (let i = 0; i < 4; i++) d.enqueue('e:x', 'e:x', 10 + i)
    await tick()
    assert.equal(a.sent.length, 1, 'nothing new for the retired one')
    assert.ok(b.payloads().includes(10))
    a.sent[0].ack()
    await tick()
    assert.deepEqual(retired, [0])
    assert.equal(d.retire(1), false)
    for (const s of b.sent) s.ack()
    await tick()
    assert.deepEqual(retired, [0, 1])
    d.attach(0, new FakeInstance(0))
    assert.equal(d.retire(0), true, 'a fresh instance holds nothing')
  })

  it('at shutdown, what is still queued leaves the books as lost or dead letters', async () => {
    for (const delivery of ['at-most-once', 'at-least-once'] as const) {
      const { d, dead, books } = rig({ delivery })
      d.detach(0, new Error('stopped'))
      for (let i = 0; i < 3; i++) d.enqueue('e:x', 'e:x', i)
      d.abandon('stopping')
      assert.equal(d.depth(), 0)
      if (delivery === 'at-most-once') assert.equal(d.counters.lost, 3)
      else assert.deepEqual(dead.map((l) => l.error?.code), ['RIG_ERR_CLOSED', 'RIG_ERR_CLOSED', 'RIG_ERR_CLOSED'])
      books()
    }
  })
})
