import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, test } from 'node:test'
import { isOutriggerError, type ErrorCode } from '../src/errors.js'
import { hostFor } from '../src/hosts/select.js'
import type { HostBridge, InstanceSpec, WireEvent, WorkerInstance } from '../src/hosts/worker-host.js'
import { LimitsSchema } from '../src/manifest/schema.js'
import { alive, until } from './helpers/wait.js'

const fixture = (name: string): string => fileURLToPath(new URL(`../../test/fixtures/hosts/${name}/`, import.meta.url))

/** An in-memory HostBridge that records what the worker's ctx sent. */
function memoryBridge() {
  const values = new Map<string, unknown>()
  const counters = new Map<string, number>()
  const emitted: Array<{ event: string; payload: unknown }> = []
  const logs: Array<{ level: string; obj: unknown; msg?: string }> = []
  const calls: Array<{ target: string; args: unknown }> = []
  const emitWaiters = new Map<string, () => void>()
  /** Resolves when the worker emits `event`. */
  const emitOf = (event: string): Promise<void> => new Promise((resolve) => emitWaiters.set(event, resolve))
  const bridge: HostBridge = {
    state: {
      putState: async (key, value) => void values.set(key, value),
      getState: async <T>(key: string) => values.get(key) as T | undefined,
      deleteState: async (key) => void values.delete(key),
      incrCounter: async (key, amount = 1) => {
        const n = (counters.get(key) ?? 0) + amount
        counters.set(key, n)
        return n
      },
      getCounter: async (key) => counters.get(key) ?? 0,
    },
    emit(event, payload) {
      emitted.push({ event, payload })
      emitWaiters.get(event)?.()
    },
    async call(target, args) {
      calls.push({ target, args })
      return { answered: target }
    },
    log: (level, obj, msg) => void logs.push({ level, obj, msg }),
  }
  return { bridge, values, counters, emitted, logs, calls, emitOf }
}

function spec(plugin: string, bridge: HostBridge, limits: Partial<InstanceSpec['limits']> = {}): InstanceSpec {
  const rootPath = fixture(plugin)
  return {
    plugin, version: '1.0.0', instanceId: 0, entry: `${rootPath}index.js`, rootPath, dataDir: rootPath,
    options: { greeting: 'hi' }, limits: LimitsSchema.parse(limits), callTimeoutMs: 10000, bridge,
  }
}

const ev = (seq: number, subscription: string, payload: unknown = {}, event = subscription): WireEvent => ({ seq, event, subscription, payload })

/** Waits for `p`, failing the test instead of hanging when it does not settle in time. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms)))
  try {
    return await Promise.race([p, late])
  } finally {
    clearTimeout(timer)
  }
}

/** Call it as soon as `p` exists (it handles the rejection at once), await it when needed. */
async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<Error> {
  const outcome = p.then(() => assert.fail(`expected ${code}`), (e: unknown) => e)
  const err = await within(outcome, 10000, code)
  assert.ok(isOutriggerError(err, code), `expected ${code}, got ${(err as Error)?.stack ?? String(err)}`)
  return err as Error
}

/** Children of this process that are still alive (Linux /proc; empty elsewhere). */
function liveChildren(): number[] {
  let dirs: string[]
  try {
    dirs = readdirSync('/proc').filter((d) => /^\d+$/.test(d))
  } catch {
    return []
  }
  return dirs.map(Number).filter((pid) => {
    try {
      // Fields after the parenthesised name: state, ppid, …
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      return Number(ppid) === process.pid && state !== 'Z'
    } catch {
      return false
    }
  })
}

for (const isolation of ['thread', 'process'] as const) {
  describe(`${isolation} worker host`, () => {
    const host = hostFor(isolation)
    const started = new Set<WorkerInstance>()
    const start = async (s: InstanceSpec): Promise<WorkerInstance> => {
      const instance = await within(host.start(s), 15000, 'start')
      started.add(instance)
      return instance
    }

    afterEach(async () => {
      for (const instance of started) await within(instance.kill(), 10000, 'kill')
      started.clear()
      assert.deepEqual(liveChildren(), [], 'no child process left behind')
    })

    test('starts, runs init with ctx, reports hooks and functions', async () => {
      const m = memoryBridge()
      const w = await start(spec('basic', m.bridge))
      assert.ok(w.info.hooks.includes('count:*') && w.info.functions.includes('add'))
      assert.equal(w.pid > 0, true)
      if (isolation === 'thread') assert.ok(w.threadId > 0 && w.pid === process.pid)
      else assert.ok(w.threadId === 0 && w.pid !== process.pid)
      assert.deepEqual(m.values.get('init'), { name: 'basic', version: '1.0.0', options: { greeting: 'hi' }, rootPath: fixture('basic') })
    })

    test('delivers a batch of 10,000 events, counted by the plugin through ctx.state', async () => {
      const m = memoryBridge()
      const w = await start(spec('basic', m.bridge))
      const batch = Array.from({ length: 10000 }, (_, i) => ev(i, 'count:*', { i }, 'count:up'))
      const results = await within(w.run(batch), 60000, 'run')
      assert.equal(results.length, 10000)
      assert.ok(results.every((r, i) => r.ok && r.seq === i))
      assert.equal(m.counters.get('count'), 10000)
    })

    test('a throwing hook is ok:false and the instance lives on', async () => {
      const w = await start(spec('basic', memoryBridge().bridge))
      const results = await w.run([ev(1, 'fail:event', { fail: true, n: 1 }), ev(2, 'fail:event', { fail: false }), ev(3, 'nope')])
      assert.deepEqual(results.map((r) => [r.seq, r.ok]), [[1, false], [2, true], [3, false]])
      assert.ok(!results[0].ok && results[0].error.message === 'boom 1')
      assert.ok(!results[2].ok && results[2].error.code === 'RIG_ERR_UNKNOWN_TARGET')
      assert.equal((await w.run([ev(4, 'noop')]))[0].ok, true)
    })

    test('a payload that cannot be cloned is refused alone; the instance stays usable', async () => {
      const m = memoryBridge()
      const w = await start(spec('basic', m.bridge))
      await rejectsWith(w.run([ev(1, 'count:*'), ev(2, 'count:*', { f() {} })]), 'RIG_ERR_NOT_CLONEABLE')
      await rejectsWith(w.run([ev(3, 'count:*', { s: Symbol('x') })]), 'RIG_ERR_NOT_CLONEABLE')
      const results = await w.run([ev(4, 'count:*')])
      assert.ok(results[0].ok)
      assert.equal(m.counters.get('count'), 1)
    })

    test('ctx.emit, ctx.log, ctx.state and ctx.call reach the host bridge', async () => {
      const m = memoryBridge()
      const w = await start(spec('basic', m.bridge))
      const [r] = await w.run([ev(7, 'ctx:all', { v: 42 }, 'ctx:fired')])
      assert.ok(r.ok, JSON.stringify(r))
      assert.deepEqual(m.emitted, [{ event: 'ctx:emitted', payload: { from: 'ctx:fired' } }])
      assert.deepEqual(m.logs, [{ level: 'info', obj: { k: 1, plugin: 'basic', instance: 0 }, msg: 'hello' }])
      assert.deepEqual(m.calls, [{ target: 'other.fn', args: { q: 1 } }])
      assert.deepEqual(m.values.get('seen'), {
        back: { v: 42 }, answer: { answered: 'other.fn' }, meta: { event: 'ctx:fired', subscription: 'ctx:all' },
      })
    })

    test("call() reaches the plugin's functions", async () => {
      const w = await start(spec('basic', memoryBridge().bridge))
      assert.equal(await w.call('add', { a: 2, b: 3 }), 5)
      assert.equal(await w.call('whoami', null), 'basic@1.0.0')
      await rejectsWith(w.call('missing', null), 'RIG_ERR_UNKNOWN_TARGET')
      await rejectsWith(w.call('add', { f() {} }), 'RIG_ERR_NOT_CLONEABLE')
    })

    test('ping answers with heartbeat data while an async hook is busy', async () => {
      const m = memoryBridge()
      const w = await start(spec('basic', m.bridge))
      const idle = await w.ping(5000)
      assert.equal(idle.busyMs, 0)
      assert.ok(idle.memoryMb > 0 && idle.eventLoopP99Ms >= 0)
      const hookStarted = m.emitOf('wait:started')
      const running = w.run([ev(1, 'wait:event')])
      await within(hookStarted, 5000, 'hook start')
      const busy = await w.ping(5000)
      assert.ok(busy.busyMs > 0, `busyMs ${busy.busyMs}`)
      await w.call('release', null)
      assert.ok((await running)[0].ok)
    })

    test('a blocked event loop misses its heartbeat, and kill() ends it', async () => {
      const m = memoryBridge()
      const w = await start(spec('basic', m.bridge))
      const spinning = m.emitOf('spin:started')
      const running = rejectsWith(w.run([ev(1, 'spin:event')]), 'RIG_ERR_WORKER_EXITED')
      await within(spinning, 5000, 'hook start')
      await rejectsWith(w.ping(300), 'RIG_ERR_WORKER_UNRESPONSIVE')
      await w.kill()
      await running
      const exit = await w.exited
      assert.equal(exit.reason, 'killed')
      if (isolation === 'process') assert.equal(exit.signal, 'SIGKILL')
    })

    test('process.exit in a hook rejects pending work at once and resolves exited', async () => {
      const w = await start(spec('basic', memoryBridge().bridge))
      const exiting = rejectsWith(w.run([ev(1, 'noop'), ev(2, 'exit:event'), ev(3, 'noop')]), 'RIG_ERR_WORKER_EXITED')
      const queued = rejectsWith(w.run([ev(4, 'noop')]), 'RIG_ERR_WORKER_EXITED')
      await exiting
      await queued
      const exit = await within(w.exited, 5000, 'exited')
      assert.deepEqual([exit.code, exit.reason], [3, 'crashed'])
      await rejectsWith(w.run([ev(3, 'noop')]), 'RIG_ERR_WORKER_EXITED')
      await rejectsWith(w.call('add', { a: 1, b: 1 }), 'RIG_ERR_WORKER_EXITED')
    })

    test('an uncaught error ends the instance and exited carries it', async () => {
      const w = await start(spec('basic', memoryBridge().bridge))
      await w.run([ev(1, 'crash:event')])
      const exit = await within(w.exited, 5000, 'exited')
      assert.equal(exit.reason, 'crashed')
      assert.match(String(exit.error?.message), /kaboom/)
      await rejectsWith(w.ping(5000), 'RIG_ERR_WORKER_EXITED')
    })

    if (isolation === 'process') {
      test('a child ignores SIGINT and SIGTERM, and leaves when its supervisor is SIGKILLed', async () => {
        const w = await start(spec('basic', memoryBridge().bridge))
        process.kill(w.pid, 'SIGINT')
        process.kill(w.pid, 'SIGTERM')
        assert.ok((await w.ping(5000)).memoryMb > 0)

        const script = fileURLToPath(new URL('../../test/fixtures/hosts/supervisor.mjs', import.meta.url))
        const sup = spawn(process.execPath, [script, fixture('basic')], { stdio: ['ignore', 'pipe', 'inherit'] })
        const [line] = (await within(once(sup.stdout, 'data'), 15000, 'child pid')) as [Buffer]
        const childPid = Number(String(line).trim())
        assert.ok(childPid > 0 && alive(childPid))
        sup.kill('SIGKILL')
        await within(once(sup, 'exit'), 5000, 'supervisor exit')
        await until('the orphan to be gone', () => !alive(childPid), 5000)
      })
    }

    test('kill() rejects a running batch and ends the instance', async () => {
      const w = await start(spec('basic', memoryBridge().bridge))
      const running = rejectsWith(w.run([ev(1, 'wait:event')]), 'RIG_ERR_WORKER_EXITED')
      const calling = rejectsWith(w.call('never', null), 'RIG_ERR_WORKER_EXITED')
      await w.kill()
      await running
      await calling
      assert.equal((await w.exited).reason, 'killed')
    })

    test('stop() finishes the batches handed in, aborts ctx.signal and runs close', async () => {
      const m = memoryBridge()
      const w = await start(spec('basic', m.bridge))
      const running = w.run([ev(1, 'count:*'), ev(2, 'count:*')])
      const stopping = w.stop()
      await rejectsWith(w.run([ev(3, 'count:*')]), 'RIG_ERR_CLOSED')
      assert.equal((await running).length, 2)
      await within(stopping, 10000, 'stop')
      assert.deepEqual(m.values.get('closed'), { aborted: true })
      assert.equal(m.counters.get('count'), 2)
      const exit = await w.exited
      assert.deepEqual([exit.reason, exit.code, exit.error], ['stopped', 0, undefined])
      await rejectsWith(w.run([ev(4, 'noop')]), 'RIG_ERR_WORKER_EXITED')
    })

    test('stop() turns into a kill after stopTimeoutMs when a hook never ends', async () => {
      const w = await start(spec('basic', memoryBridge().bridge, { stopTimeoutMs: 300 }))
      const running = rejectsWith(w.run([ev(1, 'spin:event')]), 'RIG_ERR_WORKER_EXITED')
      await within(w.stop(), 10000, 'stop')
      await running
      assert.equal((await w.exited).reason, 'killed')
    })

    test('a worker plugin with pipes is refused with RIG_ERR_WORKER_DEFINITION', async () => {
      const err = await rejectsWith(host.start(spec('with-pipes', memoryBridge().bridge)), 'RIG_ERR_WORKER_DEFINITION')
      assert.match(err.message, /pipes/)
    })

    test('a plugin whose module throws at import fails with RIG_ERR_WORKER_START and its cause', async () => {
      const err = await rejectsWith(host.start(spec('import-throws', memoryBridge().bridge)), 'RIG_ERR_WORKER_START')
      assert.match(String((err.cause as Error)?.cause), /cannot even load/)
    })
  })
}
