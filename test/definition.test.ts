/**
 * The one shape check (src/plugin/definition.ts) that the supervisor, the worker runtime and
 * `outrigger validate` share: what a plugin entry may export, for each type.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { z } from 'zod'
import { checkShape, coreOnlyIn, definitionOf } from '../src/plugin/definition.js'

describe('plugin definition shape', () => {
  it('accepts every key used as documented, for a core plugin', () => {
    const def = {
      hooks: { 'a:b'() {} }, pipes: { 'a:c': (p: unknown) => p }, controllers: { items: { list: () => [] } }, functions: { f: () => 1 },
      init() {}, whenReady() {}, close() {}, options: z.object({}), provides: { permission: () => true },
    }
    assert.deepEqual(checkShape(def, 'core'), [])
  })

  it('names every mistake, not just the first', () => {
    const problems = checkShape({ hooks: { x: 5 }, functions: 'nope', controllers: { c: { a: 1 } }, init: true, options: {}, extra: 1 }, 'core')
    assert.deepEqual(problems, [
      'unknown key "extra" (allowed: hooks, pipes, controllers, functions, init, whenReady, close, options, provides, source, sinks, coordination)',
      'hooks["x"] must be a function (found number)',
      '"functions" must be an object of functions',
      'controllers["c"]["a"] must be a function',
      '"init" must be a function',
      '"options" must be a zod schema',
    ])
  })

  it('refuses pipes, controllers and provides in a worker, but not as empty objects', () => {
    assert.deepEqual(checkShape({ pipes: {}, controllers: {}, hooks: { 'a:b'() {} } }, 'worker'), [])
    const [problem] = checkShape({ pipes: { 'a:b': (p: unknown) => p }, provides: { auth: () => ({}) } }, 'worker')
    assert.match(problem, /defines pipes and provides, which only core plugins may/)
    assert.deepEqual(coreOnlyIn({ pipes: { x() {} }, controllers: {} }), ['pipes'])
  })

  it('refuses what is no definition at all', () => {
    for (const def of [undefined, null, 5, 'plugin']) assert.deepEqual(checkShape(def, 'core'), ['exports no plugin definition as its default export'])
  })

  it('takes the default export, else a named `plugin`', () => {
    const d = { hooks: {} }
    assert.equal(definitionOf({ default: d, plugin: {} }), d)
    assert.equal(definitionOf({ plugin: d }), d)
    assert.equal(definitionOf({ hooks: {} }), undefined, 'loose named exports are no definition')
  })
})
