/**
 * The adaptive in-flight window (src/delivery/flight-window.ts): it grows when an instance waits
 * for work while events are queued, drifts back when it stops waiting, shrinks under byte
 * pressure, and never passes its caps; then the same through the dispatcher, with fake instances
 * that say whether they waited, and through real threads, which say it themselves (and child
 * processes, which do not).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BATCH_MAX, Dispatcher, INFLIGHT_BATCHES } from '../src/delivery/dispatcher.js'
import { CALM_ANSWERS, DEFAULT_CAPS, FlightWindow, capsFor } from '../src/delivery/flight-window.js'
import type { EventResult, RunResults, WireEvent } from '../src/hosts/worker-host.js'
import { WorkerSchema } from '../src/manifest/schema.js'
import { FakeInstanceBase } from './helpers/fake-instance.js'
import { PluginDir, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

describe('flight window', () => {
  it('starts at the former fixed depth: 4 batches, 1,024 events', () => {
    const w = new FlightWindow()
    assert.equal(w.batchLimit, INFLIGHT_BATCHES)
    assert.equal(w.limit, INFLIGHT_BATCHES * BATCH_MAX)
    assert.ok(w.hasRoom(0, 0) && w.hasRoom(768, 3))
    assert.ok(!w.hasRoom(1024, 3), 'full in events')
    assert.ok(!w.hasRoom(4, 4), 'full in batches')
  })

  it('grows when the instance waited with events queued, and only then', () => {
    const w = new FlightWindow()
    w.answered(true, false)
    w.answered(false, true)
    assert.equal(w.limit, 1024, 'a wait with nothing queued, or a backlog with no wait, changes nothing')
    w.answered(true, true)
    assert.equal(w.limit, 2048)
    assert.equal(w.batchLimit, 8)
  })

  it('never grows past its caps', () => {
    const w = new FlightWindow()
    for (let i = 0; i < 50; i++) w.answered(true, true)
    assert.equal(w.limit, DEFAULT_CAPS.maxEvents)
    assert.equal(w.batchLimit, DEFAULT_CAPS.maxBatches)
    assert.ok(!w.hasRoom(0, DEFAULT_CAPS.maxBatches))
    assert.ok(!w.hasRoom(DEFAULT_CAPS.maxEvents, 1))
  })

  it("holds no more events than the memory headroom of a tight limits.memoryMb takes", () => {
    // 64 MB: the headroom past the limit (16 MB) at 16 KB per event is the former fixed depth.
    const tight = new FlightWindow(capsFor(64))
    for (let i = 0; i < 50; i++) tight.answered(true, true)
    assert.equal(tight.limit, 1024)
    const mid = new FlightWindow(capsFor(256))
    for (let i = 0; i < 50; i++) mid.answered(true, true)
    assert.equal(mid.limit, 4096)
    assert.deepEqual(capsFor(512), DEFAULT_CAPS, 'the default limit keeps the full window')
    assert.equal(capsFor(8).maxEvents, DEFAULT_CAPS.minEvents, 'never below the floor')
  })

  it('drifts back to its floor after long runs of answers without a wait, never below', () => {
    const w = new FlightWindow()
    for (let i = 0; i < 10; i++) w.answered(true, true)
    for (let i = 0; i < CALM_ANSWERS - 1; i++) w.answered(false, true)
    assert.equal(w.limit, DEFAULT_CAPS.maxEvents, 'not before a full run of calm answers')
    w.answered(false, true)
    assert.equal(w.limit, DEFAULT_CAPS.maxEvents - DEFAULT_CAPS.maxEvents / 8)
    for (let i = 0; i < CALM_ANSWERS * 200; i++) w.answered(false, false)
    assert.equal(w.limit, DEFAULT_CAPS.minEvents)
    assert.equal(w.batchLimit, DEFAULT_CAPS.minBatches)
  })

  it('shrinks under byte pressure, yet always lets one batch go', () => {
    const w = new FlightWindow()
    for (let i = 0; i < 10; i++) w.answered(true, true)
    w.observe(1024 * 1024)
    assert.equal(w.limit, DEFAULT_CAPS.maxBytes / (1024 * 1024), '16 events of 1 MB fill 16 MB')
    assert.ok(!w.hasRoom(16, 1))
    w.observe(64 * 1024 * 1024)
    w.observe(64 * 1024 * 1024)
    w.observe(64 * 1024 * 1024)
    assert.equal(w.limit, 1, 'events larger than the cap: one at a time')
    assert.ok(w.hasRoom(0, 0), 'an instance with nothing in flight always takes a batch')
    for (let i = 0; i < 40; i++) w.observe(200)
    assert.equal(w.limit, DEFAULT_CAPS.maxEvents, 'small events again: the window is back')
  })

  it('weighs payloads by their structured-clone size, now and then', () => {
    const w = new FlightWindow()
    w.weigh({ blob: 'x'.repeat(100_000) })
    assert.ok(w.bytesPerEvent > 100_000 && w.bytesPerEvent < 110_000, String(w.bytesPerEvent))
    w.weigh(() => 'not cloneable')
    assert.ok(w.bytesPerEvent > 100_000, 'an uncloneable payload leaves the estimate alone (its send reports it)')
  })
})

/** Answers each batch at once, saying it waited (as an idle instance does). */
class WaitingInstance extends FakeInstanceBase<{ batch: WireEvent[]; answer(): void }> {
  waited = true
  run(batch: WireEvent[]): Promise<EventResult[]> {
    return new Promise((resolve) => {
      this.sent.push({
        batch,
        answer: () => {
          const r: RunResults = batch.map((e): EventResult => ({ seq: e.seq, ok: true, ms: 0 }))
          if (this.waited) r.waited = true
          resolve(r)
        },
      })
    })
  }
  /** Batches sent and not answered yet. */
  open = 0
}

const tick = () => new Promise((r) => setImmediate(r))

function rig(settings: object = {}) {
  const cfg = WorkerSchema.parse({ queue: { max: 100_000 }, ...settings })
  const d = new Dispatcher(cfg, { report() {}, deadLetter() {}, onIdle() {}, retired() {} })
  const w = new WaitingInstance(0)
  d.attach(0, w)
  const books = () => {
    const c = d.counters
    assert.equal(c.received, c.processed + c.failed + c.inFlight + d.depth() + c.dropped + c.rejected + c.lost + c.deadLettered)
  }
  return { d, w, books }
}

describe('dispatcher with an adaptive window', () => {
  for (const partitioned of [false, true]) {
    it(`sends deeper when the instance waits with a backlog, within the caps, in order${partitioned ? ' (partitionBy)' : ''}`, async () => {
      const { d, w, books } = rig(partitioned ? { partitionBy: 'k' } : {})
      const n = 60_000
      for (let i = 0; i < n; i++) d.enqueue('e:*', 'e:x', { k: 'same', i })
      await tick()
      assert.equal(d.counters.inFlight, INFLIGHT_BATCHES * BATCH_MAX, 'starts at the fixed depth')
      let answered = 0
      let deepest = 0
      while (answered < w.sent.length) {
        w.sent[answered++].answer()
        await tick()
        deepest = Math.max(deepest, d.counters.inFlight)
        assert.ok(w.sent.length - answered <= DEFAULT_CAPS.maxBatches, 'batches within the cap')
        assert.ok(d.counters.inFlight <= DEFAULT_CAPS.maxEvents, 'events within the cap')
        books()
      }
      assert.equal(d.counters.processed, n)
      assert.equal(deepest, DEFAULT_CAPS.maxEvents, 'grew to its cap')
      const order = w.payloads().map((p) => (p as { i: number }).i)
      assert.deepEqual(order, Array.from({ length: n }, (_, i) => i), 'in emit order')
    })
  }

  it('stays at the fixed depth while the instance never waits', async () => {
    const { d, w } = rig()
    w.waited = false
    for (let i = 0; i < 20_000; i++) d.enqueue('e:*', 'e:x', i)
    await tick()
    for (let k = 0; k < w.sent.length; k++) {
      w.sent[k].answer()
      await tick()
      assert.ok(d.counters.inFlight <= INFLIGHT_BATCHES * BATCH_MAX)
    }
    assert.equal(d.counters.processed, 20_000)
  })

  it('cuts batches and the window by bytes: large events go a few at a time', async () => {
    const { d, w, books } = rig()
    const big = 'x'.repeat(1024 * 1024)
    for (let i = 0; i < 40; i++) d.enqueue('e:*', 'e:x', { i, big })
    await tick()
    assert.ok(d.counters.inFlight <= 17, `${d.counters.inFlight} events of 1 MB in flight (cap 16 MB)`)
    while (d.counters.processed < 40) {
      w.sent.find((s, k) => k >= 0 && !(s as { done?: boolean }).done && ((s as { done?: boolean }).done = true))!.answer()
      await tick()
      assert.ok(d.counters.inFlight <= 17)
      books()
    }
  })
})

describe('instances say when they waited for work', () => {
  for (const isolation of ['thread', 'process'] as const) {
    // A child's batches arrive through a pipe in pieces, its loop idling between them: it never
    // reports a wait, and its window stays at the fixed depth.
    const grows = isolation === 'thread'
    it(`${isolation}: a backlog ${grows ? 'widens the window past' : 'leaves the window at'} the fixed depth`, async () => {
      const dir = await PluginDir.create()
      try {
        // One synchronous burst: the first batches leave as lanes fill, and the instance runs them
        // and sits idle while the host is still emitting; the next batch finds it waiting, with
        // the rest of the burst queued behind.
        await dir.add('deep', worker('deep', { isolation, queue: { max: 200_000 } }), `export default { hooks: { 'w:*'() {} } }\n`)
        const sup = await dir.start()
        try {
          let deepest = 0
          const inFlight = () => sup.status().plugins.find((p) => p.name === 'deep')!.events.inFlight
          for (let i = 0; i < 100_000; i++) sup.emit('w:x', { i })
          await until('every event processed', () => {
            deepest = Math.max(deepest, inFlight())
            return sup.status().plugins.find((p) => p.name === 'deep')!.events.processed === 100_000
          }, 120_000)
          if (grows) assert.ok(deepest > INFLIGHT_BATCHES * BATCH_MAX, `deepest in flight ${deepest}`)
          else assert.ok(deepest > 0 && deepest <= INFLIGHT_BATCHES * BATCH_MAX, `deepest in flight ${deepest}`)
          assert.ok(deepest <= DEFAULT_CAPS.maxEvents, `deepest in flight ${deepest}`)
        } finally {
          await sup.stop()
        }
      } finally {
        await dir.remove()
      }
    })
  }
})
