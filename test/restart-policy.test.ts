/** The restart policy (src/supervision/restart-policy.ts): OTP's semantics, backoff and intensity. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RestartPolicy } from '../src/supervision/restart-policy.js'
import type { WorkerSettings } from '../src/manifest/schema.js'

const cfg = (over: Partial<WorkerSettings['restart']> = {}): WorkerSettings['restart'] => ({
  policy: 'permanent', maxRestarts: 100, windowMs: 60_000, backoffMs: { initial: 100, max: 1000 }, ...over,
})

describe('restart policy', () => {
  it('permanent restarts after any exit, transient only after an abnormal one, temporary never', () => {
    const decide = (policy: WorkerSettings['restart']['policy'], abnormal: boolean) => new RestartPolicy(cfg({ policy })).decide(abnormal, 0, 0).action
    assert.equal(decide('permanent', true), 'restart')
    assert.equal(decide('permanent', false), 'restart')
    assert.equal(decide('transient', true), 'restart')
    assert.equal(decide('transient', false), 'stay-down')
    assert.equal(decide('temporary', true), 'stay-down')
    assert.equal(decide('temporary', false), 'stay-down')
  })

  it('doubles the backoff from initial up to max while crashes follow each other', () => {
    const p = new RestartPolicy(cfg())
    const delays = Array.from({ length: 7 }, (_, i) => p.decide(true, 0, i * 10)).map((d) => (d.action === 'restart' ? d.delayMs : d.action))
    assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000, 1000])
  })

  it('starts the backoff over once an instance stayed up a while', () => {
    const p = new RestartPolicy(cfg())
    for (let i = 0; i < 3; i++) p.decide(true, 0, i)
    assert.deepEqual(p.decide(true, 999, 10), { action: 'restart', delayMs: 800 }, 'not up long enough')
    assert.deepEqual(p.decide(true, 1000, 20), { action: 'restart', delayMs: 100 }, 'up for max(1 s, backoff max)')
  })

  it('quarantines past maxRestarts within windowMs, and not once the window has moved on', () => {
    const p = new RestartPolicy(cfg({ maxRestarts: 2, windowMs: 1000 }))
    assert.equal(p.decide(true, 0, 0).action, 'restart')
    assert.equal(p.decide(true, 0, 10).action, 'restart')
    assert.equal(p.decide(true, 0, 20).action, 'quarantine')
    assert.equal(p.decide(true, 0, 1011).action, 'restart', 'both earlier restarts are older than the window')
  })

  it('counts only the restarts inside the window', () => {
    const p = new RestartPolicy(cfg({ maxRestarts: 2, windowMs: 1000 }))
    p.decide(true, 0, 0)
    p.decide(true, 0, 600)
    assert.equal(p.decide(true, 0, 1001).action, 'restart', 'the one at 0 expired, the one at 600 did not')
    assert.equal(p.decide(true, 0, 1100).action, 'quarantine', '600 and 1001 are still inside')
  })

  it('forgives everything on an operator restart', () => {
    const p = new RestartPolicy(cfg({ maxRestarts: 1, windowMs: 60_000 }))
    p.decide(true, 0, 0)
    assert.equal(p.decide(true, 0, 1).action, 'quarantine')
    p.reset()
    assert.deepEqual(p.decide(true, 0, 2), { action: 'restart', delayMs: 100 })
  })
})
