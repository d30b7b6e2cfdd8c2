import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { ErrorCodes, HttpErrorCodes, OutriggerError, deserializeError, isOutriggerError, serializeError, type ErrorCode } from '../src/errors.js'
import { HttpError } from '../src/http/envelope.js'
import { mapError } from '../src/http/error-status.js'
import { MemoryStore } from '../src/state/memory-store.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { assertBooks } from './helpers/books.js'
import { PluginDir, core, memoryLogger, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

describe('errors', () => {
  it('answers a pipe that timed out with HTTP 504, and a busy one with 503', () => {
    assert.equal(mapError(new OutriggerError('RIG_ERR_PIPE_TIMEOUT', 'pipe "a:b": plugin "p" did not settle')).status, 504)
    assert.equal(mapError(new OutriggerError('RIG_ERR_PIPE_BUSY', 'busy')).status, 503)
  })

  it('keeps code, message, stack and cause across a boundary, for every code', () => {
    for (const code of Object.keys(ErrorCodes) as ErrorCode[]) {
      const cause = new TypeError('underneath')
      const err = new OutriggerError(code, `${code} happened`, { cause })
      const back = deserializeError(structuredClone(serializeError(err)))
      assert.ok(back instanceof OutriggerError, code)
      assert.equal((back as OutriggerError).code, code)
      assert.equal(back.message, `${code} happened`)
      assert.equal(back.stack, err.stack)
      assert.equal((back.cause as Error).message, 'underneath')
      assert.equal((back.cause as Error).name, 'TypeError')
    }
    const foreign = deserializeError(serializeError(Object.assign(new Error('disk full'), { code: 'ENOSPC' })))
    assert.equal((foreign as { code?: string }).code, 'ENOSPC')
  })

  it('an HTTP refusal is an OutriggerError, and its code survives a boundary too', () => {
    const refusal = new HttpError(404, 'RIG_ERR_HTTP_NOT_FOUND', 'no route', { allow: 'GET' })
    assert.ok(refusal instanceof OutriggerError)
    assert.ok(isOutriggerError(refusal, 'RIG_ERR_HTTP_NOT_FOUND'))
    assert.deepEqual([refusal.status, refusal.headers, refusal.name], [404, { allow: 'GET' }, 'HttpError'])
    const back = deserializeError(structuredClone(serializeError(refusal)))
    assert.ok(isOutriggerError(back, 'RIG_ERR_HTTP_NOT_FOUND'))
  })

  it('every code is triggered by some test of the behaviour behind it', async () => {
    const dir = new URL('../../test/', import.meta.url)
    const files = (await readdir(dir)).filter((f) => f.endsWith('.test.ts') && f !== 'errors.test.ts')
    const sources = (await Promise.all(files.map((f) => readFile(new URL(f, dir), 'utf8')))).join('\n')
    const own = await readFile(new URL('errors.test.ts', dir), 'utf8')
    const behaviour = own.slice(own.indexOf('// ── behaviour'))
    const untested = [...Object.keys(ErrorCodes), ...Object.keys(HttpErrorCodes)].filter((c) => !sources.includes(c) && !behaviour.includes(c))
    assert.deepEqual(untested, [])
  })

  // ── behaviour: codes whose natural home is here
  describe('queue overflow and call timeouts', () => {
    let dir: PluginDir
    let sup: Supervisor | undefined
    beforeEach(async () => {
      dir = await PluginDir.create()
    })
    // Stops whatever supervisor the test started, then deletes the folder.
    afterEach(() => dir.remove())

    for (const overflow of ['drop-oldest', 'drop-newest', 'reject'] as const) {
      it(`counts every drop with overflow "${overflow}"${overflow === 'reject' ? ' and reports RIG_ERR_QUEUE_FULL' : ''}`, async () => {
        // The hook waits for a release, so the queue (max 10) fills behind the first batch.
        await dir.add('slow', worker('slow', { queue: { max: 10, overflow } }), `
          const seen = []
          export default { hooks: { async 'q:x'(p, ctx) { seen.push(p.i); while (!(await ctx.state.getState('go'))) await new Promise((r) => setTimeout(r, 5)) } },
            functions: { seen: () => seen } }`)
        const { logger, lines } = memoryLogger()
        const store = new MemoryStore()
        sup = await dir.start({ logger, store })
        sup.emit('q:x', { i: 0 })
        await until('the first event is in the hook', () => sup!.status().plugins.find((p) => p.name === 'slow')!.events.inFlight === 1)
        for (let i = 1; i <= 15; i++) sup.emit('q:x', { i })
        const p = sup.status().plugins.find((p) => p.name === 'slow')!
        assert.equal(p.queue.depth, 10)
        assert.equal(p.queue.dropped, 5)
        assertBooks(p)
        await store.put('plugin:slow', 'go', true)
        await until('drained', () => sup!.status().plugins.find((p) => p.name === 'slow')!.events.processed === 11)
        const seen = await sup.call<number[]>('slow.seen')
        const expected = overflow === 'drop-oldest' ? [0, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] : [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
        assert.deepEqual(seen, expected)
        const full = lines.filter((l) => (l.obj as { code?: string })?.code === 'RIG_ERR_QUEUE_FULL')
        assert.equal(full.length, overflow === 'reject' ? 5 : 0)
      })
    }

    it('times out a worker function call that never answers with RIG_ERR_CALL_TIMEOUT', async () => {
      await dir.add('stuck', worker('stuck', { isolation: 'process', limits: { handlerTimeoutMs: 200 } }), `export default { functions: { wait: () => new Promise(() => {}), ok: () => 1 } }`)
      sup = await dir.start()
      await assert.rejects(sup.call('stuck.wait'), (e: OutriggerError) => e.code === 'RIG_ERR_CALL_TIMEOUT')
      assert.equal(await sup.call('stuck.ok'), 1, 'the instance still answers')
    })
  })
})
