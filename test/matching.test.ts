/** Who hears an event: wildcard matching (src/bus/matcher.ts) and partitions (src/delivery/partition.ts). */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Matcher } from '../src/bus/matcher.js'
import { partitionOf, pathGetter } from '../src/delivery/partition.js'

describe('matcher', () => {
  it('answers in subscription order, across exact and wildcard patterns', () => {
    const m = new Matcher<{ plugin: string; pattern: string }>()
    m.add({ plugin: 'a', pattern: '*' })
    m.add({ plugin: 'b', pattern: 'orders:create' })
    m.add({ plugin: 'c', pattern: 'orders:*' })
    m.add({ plugin: 'd', pattern: 'orders:create' })
    assert.deepEqual(m.match('orders:create').map((s) => s.plugin), ['a', 'b', 'c', 'd'])
  })

  it("removes one plugin's subscriptions and keeps the others'", () => {
    const m = new Matcher<{ plugin: string; pattern: string }>()
    m.add({ plugin: 'a', pattern: 'x:*' })
    m.add({ plugin: 'b', pattern: 'x:y' })
    m.add({ plugin: 'a', pattern: 'x:y' })
    assert.equal(m.match('x:y').length, 3)
    m.removePlugin('a')
    assert.deepEqual(m.match('x:y').map((s) => s.plugin), ['b'])
    assert.deepEqual(m.all().map((s) => s.plugin), ['b'])
  })

  it('finds a subscription added after a name was cached', () => {
    const m = new Matcher<{ plugin: string; pattern: string }>()
    assert.deepEqual(m.match('late:event'), [])
    m.add({ plugin: 'a', pattern: 'late:*' })
    assert.equal(m.match('late:event').length, 1)
  })
})

describe('partitions', () => {
  it('reads a dotted path, and undefined when a step is missing', () => {
    const get = pathGetter('order.customer.id')
    assert.equal(get({ order: { customer: { id: 7 } } }), 7)
    assert.equal(get({ order: { customer: null } }), undefined)
    assert.equal(get({ order: 'flat' }), undefined)
    assert.equal(get(null), undefined)
    assert.equal(pathGetter('k')({ k: 'v' }), 'v')
  })

  it('maps a key to the same partition every time, within range, by its string form', () => {
    for (let k = 0; k < 200; k++) {
      const p = partitionOf(`customer-${k}`, 4)
      assert.ok(p >= 0 && p < 4)
      assert.equal(partitionOf(`customer-${k}`, 4), p)
    }
    assert.equal(partitionOf(42, 7), partitionOf('42', 7))
    assert.equal(partitionOf(undefined, 3), partitionOf('undefined', 3), 'a missing key still has a home')
    assert.equal(partitionOf('anything', 1), 0)
  })

  it('spreads keys over every partition', () => {
    const counts = [0, 0, 0, 0]
    for (let k = 0; k < 1000; k++) counts[partitionOf(`k${k}`, 4)]++
    for (const c of counts) assert.ok(c > 150, `uneven spread: ${counts.join(', ')}`)
  })
})
