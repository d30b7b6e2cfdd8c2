/**
 * The host's own output (its log lines, the CLI's messages, what worker plugins print): a
 * bounded, never-blocking sink in front of stdout and stderr.
 *
 * Why not pino's default destination: sonic-boom buffers without limit while the reader stalls,
 * and at exit it flushes synchronously, retrying `write(1)` with `Atomics.wait` between tries for
 * as long as the write fails, EPIPE included, so a supervisor whose log viewer died never exits.
 * Its asynchronous writes also run on the libuv thread pool, where a write to a stalled pipe
 * holds a thread and then holds up `process.exit` itself.
 *
 * Here every line goes to Node's own stdio stream: for a pipe, a socket or (switched to
 * non-blocking writes) a terminal that is a libuv stream serviced by the event loop (no thread,
 * no timer, no retry loop), for a file a synchronous write that always completes. What has not
 * been written yet is bounded: a line that would push the unwritten backlog past `maxBytes` is
 * dropped and counted. An error on the stream (EPIPE: the reader has gone) ends the output for
 * good; later lines are counted as dropped and the process carries on. Before exiting, the
 * shutdown gives the backlog a moment (`flushOutput`); what is still unwritten then is lost.
 */
import type { Readable, Writable } from 'node:stream'

/** How much unwritten output a sink may hold before it drops lines. */
export const DEFAULT_MAX_BYTES = 1 << 20

export class LogOutput {
  private lines = 0
  private broken: Error | undefined

  constructor(
    private readonly stream: Writable,
    private readonly maxBytes = DEFAULT_MAX_BYTES,
  ) {
    guard(stream, (err) => (this.broken ??= err))
  }

  /** Lines (or chunks) not written: the backlog was full, or the output has failed. */
  get dropped(): number {
    return this.lines
  }

  /** Whether the output has failed (EPIPE and the like): nothing more will be written. */
  get closed(): boolean {
    return this.broken !== undefined
  }

  /** Writes `chunk` unless the backlog is full or the output has failed; false when dropped. */
  write(chunk: string | Uint8Array): boolean {
    if (this.closed || this.stream.writableLength + chunk.length > this.maxBytes) {
      this.lines++
      return false
    }
    this.stream.write(chunk)
    return true
  }

  /** Resolves once the backlog is written, the output has failed, or `timeoutMs` has passed. */
  flushed(timeoutMs: number): Promise<void> {
    if (this.closed || this.stream.writableLength === 0) return Promise.resolve()
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(done, timeoutMs)
      timer.unref()
      // An empty write's callback runs once everything written before it is out (or has failed).
      this.stream.write('', done)
    })
  }
}

let stdout: LogOutput | undefined
let stderr: LogOutput | undefined

/** The process's stdout sink, shared by every supervisor and the CLI in this process. */
export function stdoutSink(): LogOutput {
  nonBlockingStdio()
  return (stdout ??= new LogOutput(process.stdout))
}

/** The process's stderr sink. */
export function stderrSink(): LogOutput {
  nonBlockingStdio()
  return (stderr ??= new LogOutput(process.stderr))
}

/**
 * Node makes writes to a terminal synchronous, so a paused terminal (Ctrl-S, a stopped terminal
 * program) would block the event loop on the next line. libuv reopens a terminal to give the
 * stream a file description of its own, so switching it to non-blocking writes affects nobody
 * else; the sink's bound then applies as it does to a pipe.
 */
function nonBlockingStdio(): void {
  // Both: the host also writes to stderr directly (the shutdown's own messages, say).
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.isTTY) (stream as unknown as { _handle?: { setBlocking?(blocking: boolean): unknown } })._handle?.setBlocking?.(false)
  }
}

/** Lines dropped so far on stdout and stderr together (`logs.dropped` in the status report). */
export function droppedLines(): number {
  return (stdout?.dropped ?? 0) + (stderr?.dropped ?? 0)
}

/** Waits (at most `timeoutMs`) for stdout and stderr to write what they hold; for just before exit. */
export async function flushOutput(timeoutMs: number): Promise<void> {
  await Promise.all([stdoutSink().flushed(timeoutMs), stderrSink().flushed(timeoutMs)])
}

/**
 * Makes a failing stdout or stderr harmless: without an 'error' listener, the EPIPE of a reader
 * that went away (`outrigger start | head`) is thrown as an uncaught exception. Also covers
 * writes that do not go through a sink (a core plugin's `console.log`, the CLI's own messages).
 */
export function guardStdio(): void {
  guard(process.stdout)
  guard(process.stderr)
}

/**
 * Sends what a worker prints (a thread's or a child's stdout or stderr) through a sink. The
 * worker's side is always read at once, so a stalled reader of the host's output never stalls a
 * worker, and a vanished one never kills it with EPIPE; what the sink cannot take is dropped.
 * `unpipeFrom` undoes Node's default piping of a worker thread's output into the host's stdio.
 */
export function forwardOutput(from: Readable | null | undefined, to: LogOutput, unpipeFrom?: Writable): void {
  if (!from) return
  if (unpipeFrom) from.unpipe(unpipeFrom)
  from.on('data', (chunk: Uint8Array) => void to.write(chunk))
  // unpipe() left the stream paused, and a 'data' listener does not resume a paused stream.
  from.resume()
}

const guarded = new WeakSet<Writable>()

function guard(stream: Writable, onError?: (err: Error) => void): void {
  if (onError) stream.on('error', onError)
  if (guarded.has(stream)) return
  guarded.add(stream)
  // Each later write to a failed stdio stream fails again (stdio streams cannot be destroyed):
  // the sinks stop writing; any other writer's lines are lost quietly.
  stream.on('error', () => undefined)
}
