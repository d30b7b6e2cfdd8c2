// @ts-check
/**
 * ndjson-sink — a sink in a worker thread. The events matching `options.pattern` arrive in
 * batches (`options.batch`), and each batch is appended to `<dir>/<name>.ndjson` as one line per
 * event (`{ event, payload }`), followed by one fsync: when `write` returns, the batch is on disk,
 * and only then does the supervisor count it written.
 *
 * When the file would grow past `maxBytes`, it is renamed `<name>.<n>.ndjson` (n counts up) and a
 * new one begins; the oldest rotated files beyond `keep` are removed. Under at-least-once
 * delivery a batch whose write failed is written again whole, so after a crash between the
 * append and the fsync's answer a batch may appear twice; readers that need exactly once dedupe.
 *
 * The entry is a factory: the sink's pattern comes from the options, read when each instance starts.
 */
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { z } from 'zod'

const options = z
  .object({
    /** The events this sink writes. */
    pattern: z.string().min(1).default('ndjson:record'),
    /** The folder of the files; relative to the host's working folder. Default: `out/` in the plugin's data folder. */
    dir: z.string().min(1).optional(),
    /** The file's name, without `.ndjson`. */
    name: z.string().regex(/^[\w.-]+$/).default('events'),
    /** Rotate before the file grows past this size. */
    maxBytes: z.number().int().min(1024).default(64 * 1024 * 1024),
    /** Rotated files kept (the oldest go first). */
    keep: z.number().int().min(0).default(10),
    batch: z.object({ max: z.number().int().min(1).max(10_000).default(500), maxWaitMs: z.number().int().min(0).default(100) }).strict().default({}),
  })
  .strict()

/** @typedef {z.infer<typeof options>} SinkOptions */
/** @typedef {import('../../../src/plugin/types.js').PluginContext<SinkOptions>} Ctx */

/** @type {import('../../../src/plugin/types.js').PluginFactory<SinkOptions>} */
export default (factoryCtx) => {
  // The factory sees the options as configured; the schema fills in the defaults it needs now.
  const o = options.parse(factoryCtx.options ?? {})
  /** @type {import('node:fs/promises').FileHandle | undefined} */
  let fh
  let size = 0
  /** @param {Ctx} ctx */
  const dirOf = (ctx) => (ctx.options.dir ? path.resolve(ctx.options.dir) : path.join(ctx.dataDir, 'out'))
  /** @param {Ctx} ctx */
  const fileOf = (ctx) => path.join(dirOf(ctx), `${ctx.options.name}${ctx.instance.count > 1 ? `-${ctx.instance.id}` : ''}.ndjson`)

  /** Renames the current file to the next number and removes the oldest beyond `keep`. @param {Ctx} ctx */
  async function rotate(ctx) {
    await fh?.close()
    fh = undefined
    const file = fileOf(ctx)
    const base = path.basename(file, '.ndjson')
    const rotated = (await readdir(dirOf(ctx)))
      .map((f) => f.match(new RegExp(`^${base.replace(/[.]/g, '\\.')}\\.(\\d+)\\.ndjson$`)))
      .filter((m) => m !== null)
      .map((m) => Number(/** @type {RegExpMatchArray} */ (m)[1]))
      .sort((a, b) => a - b)
    const next = (rotated.at(-1) ?? 0) + 1
    await rename(file, path.join(dirOf(ctx), `${base}.${next}.ndjson`))
    const stale = [...rotated, next].slice(0, Math.max(0, rotated.length + 1 - ctx.options.keep))
    for (const n of stale) await rm(path.join(dirOf(ctx), `${base}.${n}.ndjson`), { force: true })
    await openFile(ctx)
  }

  /** @param {Ctx} ctx */
  async function openFile(ctx) {
    fh = await open(fileOf(ctx), 'a')
    size = (await fh.stat()).size
  }

  return {
    options,

    async init(ctx) {
      await mkdir(dirOf(ctx), { recursive: true })
      await openFile(ctx)
    },

    sinks: {
      [o.pattern]: {
        batch: o.batch,
        async write(batch, ctx) {
          const text = batch.map((e) => JSON.stringify({ event: e.event, payload: e.payload }) + '\n').join('')
          const bytes = Buffer.byteLength(text)
          if (size > 0 && size + bytes > ctx.options.maxBytes) await rotate(ctx)
          const h = /** @type {import('node:fs/promises').FileHandle} */ (fh)
          await h.appendFile(text)
          await h.sync()
          size += bytes
        },
      },
    },

    async close() {
      await fh?.close()
    },
  }
}

export { options }
