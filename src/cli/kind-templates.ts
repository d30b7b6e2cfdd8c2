/**
 * The entry and test `outrigger new --kind <kind>` writes for each kind of plugin other than the
 * default (hooks and functions, in templates.ts). A kind is one entry of `KINDS`: adding one is
 * adding an entry. Plain ESM JavaScript with JSDoc types, like the default.
 */
import { protocolIndexJs, protocolManifestJson, protocolPackageJson, protocolTestJs } from './template-protocol.js'
import type { TemplateInput } from './templates.js'

export interface KindTemplate {
  /** One line for `outrigger new --help`. */
  summary: string
  /** The only plugin type this kind can be, when it cannot be both. */
  only?: 'core' | 'worker'
  indexJs(t: TemplateInput): string
  testJs(t: TemplateInput): string
  /** When the default manifest and package.json do not fit the kind. */
  manifestJson?(t: TemplateInput): string
  packageJson?(t: TemplateInput): string
}

const where = (t: TemplateInput): string => (t.type === 'worker' ? `a ${t.isolation} of its own` : "the host's event loop")

/** A fake ctx for the generated tests: state in a Map, emits kept, a signal the test aborts. */
const FAKE_CTX = `function fakeCtx(name) {
  const state = new Map()
  const emitted = []
  const abort = new AbortController()
  const log = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {}, child: () => log }
  return {
    name, log, emitted, abort, options: {}, instance: { id: 0, count: 1 }, signal: abort.signal, dataDir: process.cwd(),
    emit(event, payload) { emitted.push({ event, payload }); return true },
    async drained() {},
    state: {
      async getState(key) { return state.get(key) },
      async putState(key, value) { state.set(key, value) },
    },
  }
}`

export const KINDS: Record<string, KindTemplate> = {
  source: {
    summary: 'a source: reads from outside and emits, with backpressure and a checkpoint',
    indexJs: (t) => `// ${t.name}: an Outrigger source plugin; it runs in ${where(t)}.
// \`source.start\` runs once the plugin is ready and emits until ctx.signal aborts.

/** @type {import('outrigger').PluginDefinition} */
export default {
  source: {
    async start(ctx) {
      // Resume where the last run left off: the checkpoint lives in ctx.state, kept by the host.
      let n = (await ctx.state.getState('next')) ?? 0
      while (!ctx.signal.aborted) {
        // Replace this with a read from outside (a file, a socket, a queue...).
        const ok = ctx.emit('${t.name}:tick', { n, instance: ctx.instance.id })
        n++
        if (n % 100 === 0) await ctx.state.putState('next', n)
        // false: a worker plugin this feeds is full; wait until it has room again.
        if (!ok) await ctx.drained()
        await new Promise((r) => setTimeout(r, 100))
      }
      await ctx.state.putState('next', n)
    },
  },
}
`,
    testJs: (t) => `// Runs the source against a small in-memory ctx: \`npm test\`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import plugin from '../index.js'

${FAKE_CTX}

test('${t.name} emits ticks until its signal aborts, and resumes from its checkpoint', async () => {
  const ctx = fakeCtx('${t.name}')
  const running = plugin.source.start(ctx)
  while (ctx.emitted.length < 3) await new Promise((r) => setTimeout(r, 10))
  ctx.abort.abort()
  await running
  assert.deepEqual(ctx.emitted.slice(0, 3).map((e) => e.payload.n), [0, 1, 2])
  const next = await ctx.state.getState('next')
  assert.equal(next, ctx.emitted.length)
})
`,
  },
  sink: {
    summary: 'a sink: writes the events of a pattern in batches',
    indexJs: (t) => `// ${t.name}: an Outrigger sink plugin; it runs in ${where(t)}.
// Events matching the pattern reach \`write\` in batches (by size or by time). A throw fails the
// whole batch, which the manifest's worker.delivery may retry ("at-least-once").
import { appendFile } from 'node:fs/promises'
import path from 'node:path'

/** @type {import('outrigger').PluginDefinition} */
export default {
  sinks: {
    '${t.name}:*': {
      batch: { max: 100, maxWaitMs: 200 },
      async write(batch, ctx) {
        // Replace this with the real destination (a database, an HTTP API...): one call per batch.
        const lines = batch.map((e) => JSON.stringify({ event: e.event, payload: e.payload }) + '\\n').join('')
        await appendFile(path.join(ctx.dataDir, '${t.name}.ndjson'), lines)
      },
    },
  },
}
`,
    testJs: (t) => `// Runs the sink's write against a small ctx and a real temporary folder: \`npm test\`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import plugin from '../index.js'

test('${t.name} appends each batch to its file, one line per event', async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), '${t.name}-'))
  try {
    const ctx = { dataDir }
    const write = plugin.sinks['${t.name}:*'].write
    await write([{ event: '${t.name}:a', payload: { i: 1 } }, { event: '${t.name}:b', payload: { i: 2 } }], ctx)
    await write([{ event: '${t.name}:a', payload: { i: 3 } }], ctx)
    const lines = (await readFile(path.join(dataDir, '${t.name}.ndjson'), 'utf8')).trim().split('\\n').map((l) => JSON.parse(l))
    assert.deepEqual(lines.map((l) => l.payload.i), [1, 2, 3])
  } finally {
    await rm(dataDir, { recursive: true, force: true })
  }
})
`,
  },
  protocol: {
    summary: 'a protocol entry point: a core plugin serving WebSocket requests through ctx.execute',
    only: 'core',
    manifestJson: protocolManifestJson,
    packageJson: protocolPackageJson,
    indexJs: protocolIndexJs,
    testJs: protocolTestJs,
  },
}
