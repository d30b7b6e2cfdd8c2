/** The files `outrigger new` writes. The plugin is plain ESM JavaScript with JSDoc types. */

export interface TemplateInput {
  name: string
  type: 'core' | 'worker'
  isolation: 'thread' | 'process'
}

export function manifestJson(t: TemplateInput): string {
  const m: Record<string, unknown> = {
    name: t.name,
    version: '0.1.0',
    type: t.type,
    main: 'index.js',
    description: `The ${t.name} plugin`,
  }
  if (t.type === 'worker') m.worker = { isolation: t.isolation, instances: 1, delivery: 'at-most-once' }
  return JSON.stringify(m, null, 2) + '\n'
}

export function packageJson(t: TemplateInput): string {
  const pkg = { name: `outrigger-plugin-${t.name}`, version: '0.1.0', private: true, type: 'module', scripts: { test: 'node --test' } }
  return JSON.stringify(pkg, null, 2) + '\n'
}

export function indexJs(t: TemplateInput): string {
  const where = t.type === 'worker' ? `a ${t.isolation} of its own` : "the host's event loop"
  return `// ${t.name}: an Outrigger ${t.type} plugin; it runs in ${where}.
// The JSDoc type below gives editors completion for hooks, functions and ctx.

/** @type {import('outrigger').PluginDefinition} */
export default {
  hooks: {
    // Listeners run asynchronously: whoever emits '${t.name}:ping' never waits for this.
    async '${t.name}:ping'(payload, ctx) {
      await ctx.state.incrCounter('pings')
      ctx.log.debug({ payload }, 'ping')
    },
  },

  functions: {
    // Callable as ctx.call('${t.name}.pings') from other plugins, or sup.call() from the host.
    async pings(_args, ctx) {
      return ctx.state.getCounter('pings')
    },
  },
}
`
}

export function testJs(t: TemplateInput): string {
  return `// Runs the plugin's hooks and functions against a small in-memory ctx: \`npm test\`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import plugin from '../index.js'

function fakeCtx() {
  const counters = new Map()
  const log = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {}, child: () => log }
  return {
    name: '${t.name}',
    log,
    state: {
      async incrCounter(key, amount = 1) {
        counters.set(key, (counters.get(key) ?? 0) + amount)
        return counters.get(key)
      },
      async getCounter(key) {
        return counters.get(key) ?? 0
      },
    },
  }
}

test('${t.name}:ping is counted and pings() reports it', async () => {
  const ctx = fakeCtx()
  await plugin.hooks['${t.name}:ping']({ at: 1 }, ctx, { event: '${t.name}:ping', subscription: '${t.name}:ping' })
  await plugin.hooks['${t.name}:ping']({ at: 2 }, ctx, { event: '${t.name}:ping', subscription: '${t.name}:ping' })
  assert.equal(await plugin.functions.pings(undefined, ctx), 2)
})
`
}
