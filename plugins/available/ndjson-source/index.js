// @ts-check
/**
 * ndjson-source — a source in a child process. It tails the NDJSON files dropped into a spool
 * folder and emits one event per record: `{ file, line, record }` under `options.event`.
 *
 * - Each file is a partition: with several instances, each file belongs to one of them (by a
 *   hash of its name), so its records stay in order.
 * - Its offset (byte and line) is checkpointed in `ctx.state` every `checkpointEvery` records and
 *   when the source stops; a restarted instance resumes there, so no record is emitted twice
 *   beyond the last checkpoint. Emits reach the host before the checkpoint written after them.
 * - A line that is not JSON is dead-lettered with its file and line number (`outrigger
 *   dead-letters list ndjson-source`), and reading goes on.
 * - A line is read once its newline arrived; a file is finished once it ends with a newline and
 *   has not grown for `finishAfterMs`. A finished file moves to `done/` in the spool folder.
 * - It waits when told: `ctx.emit` false means a plugin it feeds is full; `ctx.drained()` says when
 *   to go on.
 */
import { createHash } from 'node:crypto'
import { mkdir, open, readdir, rename, stat } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { z } from 'zod'

const options = z
  .object({
    /** The spool folder; relative to the host's working folder. Default: `spool/` in the plugin's data folder. */
    spool: z.string().min(1).optional(),
    /** The event each record is emitted as. */
    event: z.string().min(1).default('ndjson:record'),
    /** How often the folder is looked at when there is nothing to read. */
    pollMs: z.number().int().min(1).max(60_000).default(100),
    /** A file that has not grown for this long (and ends with a newline) is finished. */
    finishAfterMs: z.number().int().min(0).max(3_600_000).default(500),
    /** Records between two checkpoints. */
    checkpointEvery: z.number().int().min(1).default(200),
  })
  .strict()

/** @typedef {z.infer<typeof options>} SourceOptions */
/** @typedef {import('../../../src/plugin/types.js').PluginContext<SourceOptions>} Ctx */
/** @typedef {{ byte: number, line: number, grewAt: number, size: number }} Offset */

const CHUNK = 256 * 1024

/** @param {Ctx} ctx */
export const spoolOf = (ctx) => (ctx.options.spool ? path.resolve(ctx.options.spool) : path.join(ctx.dataDir, 'spool'))

/** Whether this instance owns the file: one owner per file, whatever the number of instances. */
function owns(/** @type {Ctx} */ ctx, /** @type {string} */ name) {
  if (ctx.instance.count === 1) return true
  return createHash('sha1').update(name).digest().readUInt32BE(0) % ctx.instance.count === ctx.instance.id
}

/** @type {import('../../../src/plugin/types.js').PluginDefinition<SourceOptions>} */
export default {
  options,

  async init(ctx) {
    await mkdir(path.join(spoolOf(ctx), 'done'), { recursive: true })
  },

  source: {
    async start(ctx) {
      const spool = spoolOf(ctx)
      while (!ctx.signal.aborted) {
        const names = (await readdir(spool)).filter((n) => n.endsWith('.ndjson') && owns(ctx, n)).sort()
        let busy = false
        for (const name of names) {
          if (ctx.signal.aborted) break
          if (await readFile(ctx, spool, name)) busy = true
        }
        // Nothing new anywhere: look again later (a stop cuts the wait short).
        if (!busy) await sleep(ctx.options.pollMs, undefined, { signal: ctx.signal }).catch(() => undefined)
      }
    },
  },
}

/**
 * Reads what is new in one file, emitting its records; moves it to done/ once it is finished.
 * True when it read anything.
 * @param {Ctx} ctx @param {string} spool @param {string} name
 */
async function readFile(ctx, spool, name) {
  const file = path.join(spool, name)
  const key = `offset:${name}`
  /** @type {Offset} */
  const at = (await ctx.state.getState(key)) ?? { byte: 0, line: 0, grewAt: Date.now(), size: 0 }
  const { size } = await stat(file)
  if (size !== at.size) {
    at.size = size
    at.grewAt = Date.now()
  }
  if (at.byte >= size) {
    if (Date.now() - at.grewAt >= ctx.options.finishAfterMs) {
      await rename(file, path.join(spool, 'done', name))
      await ctx.state.deleteState(key)
      ctx.log.info({ file: name, lines: at.line }, `${name}: finished after ${at.line} line(s), moved to done/`)
      return true
    }
    await ctx.state.putState(key, at)
    return false
  }
  const fh = await open(file, 'r')
  const before = at.byte
  // A last line without its newline is taken as it is once the file has been quiet long enough.
  const quiet = Date.now() - at.grewAt >= ctx.options.finishAfterMs
  try {
    let sinceCheckpoint = 0
    const buf = Buffer.alloc(CHUNK)
    let rest = Buffer.alloc(0)
    let pos = at.byte
    while (pos < size && !ctx.signal.aborted) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, size - pos), pos)
      if (bytesRead === 0) break
      // `data` starts at file offset `base`: what was left of the previous chunk, then this one.
      const base = pos - rest.length
      pos += bytesRead
      const data = rest.length ? Buffer.concat([rest, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead)
      let start = 0
      for (;;) {
        let nl = data.indexOf(10, start)
        if (nl < 0 && pos >= size && quiet && start < data.length) nl = data.length
        if (nl < 0 || ctx.signal.aborted) break
        const text = data.toString('utf8', start, nl)
        start = nl + 1
        at.line++
        at.byte = Math.min(size, base + start)
        if (text.trim() === '') continue
        let record
        try {
          record = JSON.parse(text)
        } catch (err) {
          await ctx.deadLetter(ctx.options.event, { file: name, line: at.line, text }, `${name}:${at.line}: not JSON (${/** @type {Error} */ (err).message})`)
          continue
        }
        if (!ctx.emit(ctx.options.event, { file: name, line: at.line, record })) await ctx.drained()
        if (++sinceCheckpoint >= ctx.options.checkpointEvery) {
          sinceCheckpoint = 0
          await ctx.state.putState(key, at)
        }
      }
      // A line without its newline yet waits for the rest of it.
      rest = Buffer.from(data.subarray(Math.min(start, data.length)))
    }
  } finally {
    await fh.close()
    await ctx.state.putState(key, at)
  }
  return at.byte > before
}
