/**
 * A child process for the journal's kill test: it appends to the journal in `argv[2]` without
 * end, and reports on stdout (a pipe: synchronous writes, so a line out is a line the parent gets,
 * however the child dies) only what the journal promised it:
 *   base <seq>      the first sequence number of this run (n = seq - base + 1)
 *   flushed <seq>   a flush() resolved: every append up to seq is committed
 *   durable <seq>   an appendDurable() resolved with seq
 *   acked <seq>     the acks of every n % 10 === 0 up to seq are committed
 * The parent SIGKILLs it mid-stream.
 */
import { Journal } from '../../src/delivery/journal.js'

const dir = process.argv[2]
const sync = (process.argv[3] ?? 'disk') as 'os' | 'disk'
const j = Journal.open(dir, { commitMs: 5, sync })
const say = (line: string) => process.stdout.write(`${line}\n`)

let base = 0
let n = 0
let ackIssuedThrough = 0

function appendOne(): number {
  n++
  const seq = j.append('load:evt', { n, pad: 'x'.repeat(n % 64), at: new Date(n) })
  if (!base) {
    say(`base ${(base = seq)}`)
    ackIssuedThrough = seq - 1
  }
  if (seq !== base + n - 1) throw new Error(`sequence ${seq} out of order at n=${n}`)
  return seq
}

async function run(): Promise<void> {
  for (let round = 0; ; round++) {
    for (let k = 0; k < 250; k++) appendOne()
    if (round % 4 === 0) {
      n++
      void j.appendDurable('load:evt', { n, pad: '', at: new Date(n) }).then((seq) => say(`durable ${seq}`))
    }
    const upTo = j.lastSeq
    const ackedBefore = ackIssuedThrough
    void j.flush().then(() => {
      say(`flushed ${upTo}`)
      // Acks issued before that flush were written with it.
      if (ackedBefore >= base) say(`acked ${ackedBefore}`)
      for (let seq = ackIssuedThrough + 1; seq <= upTo; seq++) if ((seq - base + 1) % 10 === 0) j.ack(seq)
      if (upTo > ackIssuedThrough) ackIssuedThrough = upTo
    })
    await new Promise((r) => setImmediate(r))
  }
}

void run()
