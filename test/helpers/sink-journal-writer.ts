/**
 * A child process for the durable sink's kill test: a sink (the real `SinkBatcher`) gathering
 * ids over a real journal through the real `GatheredEvents`, the way a durable worker plugin's
 * sink does, with a stand-in for the plugin's queue that "writes" a batch by acking it. The
 * parent SIGKILLs it mid-stream. It reports on stdout (a pipe: synchronous writes, so a line out
 * is a line the parent gets, however the child dies):
 *   member <id>        at start: an id the journal held as gathered (gathered again now)
 *   batch <id,id,…>    at start: a batch the journal held (written now)
 *   promised <id>      a flush resolved after `id` was gathered: every id up to it is on disk
 *   written <id,id,…>  a batch is written (before its ack)
 *   done               (final mode) everything read back was written and committed
 *
 * argv: <dir> <first id> <mode: run | final>
 */
import { GatheredEvents, gatheredFor } from '../../src/delivery/durable-sink.js'
import { Journal } from '../../src/delivery/journal.js'
import { SinkBatcher } from '../../src/delivery/sink-batcher.js'
import type { SinkItem } from '../../src/plugin/types.js'

const [dir, firstArg, mode] = process.argv.slice(2)
const SUB = 'sinks["log:*"]'
const MAX = 64
const say = (line: string) => process.stdout.write(`${line}\n`)
const ids = (batch: SinkItem[]) => batch.map((b) => (b.payload as { id: number }).id).join(',')

const journal = Journal.open(dir, { commitMs: 5 })
/** Batches handed on (journaled, each replacing its ids), not yet written. */
const closed: Array<{ seq: number; batch: SinkItem[] }> = []
const gathered = new GatheredEvents({
  journal,
  capture: undefined,
  enqueue(subscription, event, payload, replaces) {
    const seq = replaces?.length ? journal.replace(replaces, event, payload, subscription) : journal.append(event, payload, subscription)
    closed.push({ seq, batch: payload as SinkItem[] })
  },
  report(event, err) {
    throw new Error(`unexpected refusal of ${event}: ${err.message}`)
  },
})
const sink = new SinkBatcher('log:*', MAX, 60_000, (batch, seqs) => gathered.close(SUB, batch, seqs))

function write(b: { seq: number; batch: SinkItem[] }): void {
  say(`written ${ids(b.batch)}`)
  journal.ack(b.seq)
}

// Read back: gathered ids go back to the sink (held until it attaches, as in the host); a batch
// is written at once.
for (const e of journal.recover()) {
  if (gatheredFor(e.meta) === SUB) {
    say(`member ${(e.payload as { id: number }).id}`)
    gathered.recovered(e)
  } else {
    say(`batch ${ids(e.payload as SinkItem[])}`)
    write({ seq: e.seq, batch: e.payload as SinkItem[] })
  }
}
gathered.attach({ regather: (_sub, e) => sink.add(e.event, e.payload, e.seq), refused: (_sub, seq) => sink.remove(seq) })

if (mode === 'final') {
  sink.close()
  for (const b of closed.splice(0)) write(b)
  await journal.close()
  say('done')
  process.exit(0)
}

let id = Number(firstArg)
for (let turn = 0; ; turn++) {
  // A few ids per turn; now and then a batch is written, sometimes before its own commit.
  const n = 1 + Math.floor(Math.random() * 40)
  for (let k = 0; k < n; k++, id++) sink.add('log:x', { id }, gathered.gather(SUB, 'log:x', { id }))
  if (closed.length > 0 && Math.random() < 0.5) write(closed.shift()!)
  const upTo = id - 1
  if (Math.random() < 0.5) void journal.flush().then(() => say(`promised ${upTo}`))
  await new Promise((r) => (Math.random() < 0.5 ? setImmediate(r) : setTimeout(r, Math.random() * 3)))
}
