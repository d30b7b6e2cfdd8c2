/**
 * Dead letters: a replay never loses a letter (a full queue stops it, whatever the overflow
 * policy), and an operator replays or purges some of them by id, limit or time, from the CLI
 * (over the control socket) and over HTTP.
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import { after, afterEach, before, beforeEach, describe, it } from 'node:test'
import type { StartedSupervisor } from '../src/start.js'
import { MemoryStore } from '../src/state/memory-store.js'
import type { DeadLetter, Supervisor } from '../src/supervisor/types.js'
import { assertBooks } from './helpers/books.js'
import { rig } from './helpers/cli-run.js'
import { PluginDir, core, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

const plugin = (sup: Supervisor, name: string) => sup.status().plugins.find((p) => p.name === name)!
/** The `i` an event of the sink carried. */
const iOf = (l: DeadLetter) => (l.payload as { i: number }).i

/**
 * Fails every event until the state says `healed`; holds each one while the state says `hold`
 * (so the queue fills behind it), until it first sees it cleared; remembers the `i` of every event it processed. `dl:end` ends
 * the instance.
 */
const SINK = `
  const seen = []
  let released = false
  export default {
    hooks: {
      async 'dl:x'(p, ctx) {
        if (!(await ctx.state.getState('healed'))) throw new Error('not healed yet: ' + p.i)
        while (!released) {
          released = !(await ctx.state.getState('hold'))
          if (!released) await new Promise((r) => setTimeout(r, 5))
        }
        seen.push(p.i)
      },
      // Ends the instance by itself: under restart policy "temporary" the plugin stays stopped.
      'dl:end'() { process.exit(0) },
    },
    functions: { seen: () => seen },
  }`

describe('replaying dead letters into a full queue', () => {
  let dir: PluginDir
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  it('stops at the full queue without dropping other events; replayed + left = before; later replays deliver the rest', async () => {
    const N = 3000
    const store = new MemoryStore()
    const state = (key: string, value: unknown) => store.put('plugin:sink', key, value)
    // queue.max 5 with drop-oldest: the policy that would push queued events out to take a letter.
    await dir.add('sink', worker('sink', { isolation: 'thread', delivery: 'at-least-once', maxAttempts: 1, queue: { max: 5, overflow: 'drop-oldest' } }), SINK)

    // The letters: N events that fail once each, behind a queue the operator made large for it.
    let sup = await dir.start({ store, config: { plugins: { sink: { worker: { queue: { max: 10_000 } } } } } })
    for (let i = 0; i < N; i++) sup.emit('dl:x', { i })
    await until(`${N} dead letters`, async () => (await sup.listDeadLetters('sink')).length === N, 60_000)
    await sup.stop()

    // The same store, the manifest's queue of 5: the plugin is healed but held, and other events
    // fill the instance (INFLIGHT_BATCHES = 4 batches of one) and then the queue.
    const runtimeDir = path.join(dir.root, 'run')
    const app = 'full-queue'
    sup = await dir.start({ app, store, control: { runtimeDir }, http: { port: 0 } })
    await state('healed', true)
    await state('hold', true)
    for (let k = 1; k <= 4; k++) {
      sup.emit('dl:x', { i: -k })
      await until(`${k} batch(es) in flight`, () => plugin(sup, 'sink').events.inFlight === k)
    }
    for (let k = 5; k <= 9; k++) sup.emit('dl:x', { i: -k })
    assert.equal(plugin(sup, 'sink').queue.depth, 5)

    const refused = { plugin: 'sink', replayed: 0, left: N, halted: 'queue-full' }
    assert.deepEqual(await sup.replayDeadLetters('sink'), refused)
    // The same from the CLI (exit 1: not everything asked for went) and over HTTP.
    const cli = await rig(['--app', app, 'dead-letters', 'replay', 'sink', '--json'], { runtimeDir })
    assert.equal(cli.code, 1, cli.stderr)
    assert.deepEqual(JSON.parse(cli.stdout), refused)
    const res = await fetch(`${(sup as StartedSupervisor).httpUrl}/_/_plugins/sink/dead-letters/replay`, { method: 'POST', headers: { 'x-outrigger-action': '1' } })
    assert.equal(res.status, 200)
    assert.deepEqual(((await res.json()) as { result: unknown }).result, refused)
    assert.equal((await sup.listDeadLetters('sink')).length, N, 'every letter is still there')
    assert.equal(plugin(sup, 'sink').queue.dropped, 0, 'no queued event was pushed out')

    // Released, the queue drains; each replay takes what fits and says what is left.
    await state('hold', false)
    let before = N
    let rounds = 0
    while (before > 0) {
      await until('room in the queue', () => plugin(sup, 'sink').queue.depth < 5)
      const r = await sup.replayDeadLetters('sink')
      rounds++
      assert.ok(r.replayed >= 1, `round ${rounds} replayed something: ${JSON.stringify(r)}`)
      assert.equal(r.replayed + r.left, before, `round ${rounds}: replayed + left = before`)
      assert.equal(r.halted, r.left === 0 ? null : 'queue-full')
      if (rounds % 100 === 1) assert.equal((await sup.listDeadLetters('sink')).length, r.left)
      before = r.left
    }
    const total = N + 9
    await until('every event processed', () => plugin(sup, 'sink').events.processed === total, 60_000)
    const seen = await sup.call<number[]>('sink.seen')
    assert.equal(seen.length, total)
    assert.equal(new Set(seen).size, total, 'each event once')
    for (let i = 0; i < N; i++) assert.ok(seen.includes(i), `letter ${i} delivered`)
    const p = plugin(sup, 'sink')
    assert.equal(p.queue.dropped, 0)
    assert.equal(p.events.deadLettered, 0)
    assertBooks(p)
    assert.ok(rounds > 1, 'the queue held fewer than all of them')
  })

  it('a replay into a stopped plugin leaves every letter where it is, and works after a restart', async () => {
    const store = new MemoryStore()
    await dir.add('sink', worker('sink', { isolation: 'thread', delivery: 'at-least-once', maxAttempts: 1, restart: { policy: 'temporary' } }), SINK)
    const runtimeDir = path.join(dir.root, 'run')
    const sup = await dir.start({ app: 'stopped-sink', store, control: { runtimeDir } })
    for (let i = 0; i < 3; i++) sup.emit('dl:x', { i })
    await until('3 dead letters', async () => (await sup.listDeadLetters('sink')).length === 3)
    await store.put('plugin:sink', 'healed', true)
    sup.emit('dl:end', {})
    await until('the plugin stopped', () => plugin(sup, 'sink').state === 'stopped')
    // The event that ended the instance was in flight (at-least-once, one attempt): a letter too.
    const letters = await until('4 dead letters', async () => (await sup.listDeadLetters('sink')).length === 4).then(() => sup.listDeadLetters('sink'))
    assert.deepEqual(await sup.replayDeadLetters('sink'), { plugin: 'sink', replayed: 0, left: 4, halted: 'plugin-stopped' })
    assert.deepEqual(await sup.listDeadLetters('sink'), letters)
    const cli = await rig(['--app', 'stopped-sink', 'dead-letters', 'replay', 'sink'], { runtimeDir })
    assert.equal(cli.code, 1, cli.stderr)
    assert.match(cli.stdout, /^replayed 0 dead letter\(s\) of sink; 4 left \(the plugin is stopped; run "outrigger restart sink" first\)/)
    assert.deepEqual(await sup.listDeadLetters('sink'), letters)
    await sup.restartPlugin('sink')
    const ids = letters.filter((l) => l.event === 'dl:x').map((l) => l.id)
    assert.deepEqual(await sup.replayDeadLetters('sink', { ids }), { plugin: 'sink', replayed: 3, left: 1, halted: null })
    await until('the letters processed', () => plugin(sup, 'sink').events.processed === 3)
    assert.deepEqual((await sup.call<number[]>('sink.seen')).sort(), [0, 1, 2])
  })
})

/** Asks for `x-user` on every request; a guest may list dead letters, and only that. */
const GATE = `
  export default {
    provides: {
      auth(req) {
        const name = req.headers['x-user']
        if (typeof name !== 'string') throw Object.assign(new Error('who are you? send x-user'), { status: 401 })
        return { name }
      },
      permission(user, target) {
        globalThis.__heard.push(target)
        return user.name !== 'guest' || (target.plugin === '_plugins' && target.action === 'dead-letters')
      },
    },
  }`

interface Envelope<R = unknown> {
  requestId: string
  status: number
  error: { code: string; message: string } | null
  controller: string | null
  action: string | null
  result: R
}

describe('dead-letters replay and purge, from the CLI and over HTTP', () => {
  const app = 'letters'
  let dir: PluginDir
  let sup: StartedSupervisor
  let store: MemoryStore
  let runtimeDir: string
  let next = 0

  const cli = (...args: string[]) => rig(['--app', app, 'dead-letters', ...args], { runtimeDir })
  async function http<R = unknown>(method: string, route: string, body?: unknown, user: string | null = 'ops'): Promise<{ status: number; env: Envelope<R>; allow: string | null }> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-outrigger-action': '1' }
    if (user !== null) headers['x-user'] = user
    const res = await fetch(`${sup.httpUrl}/_/_plugins/${route}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) })
    return { status: res.status, env: (await res.json()) as Envelope<R>, allow: res.headers.get('allow') }
  }
  const seen = () => sup.call<number[]>('sink.seen')

  /** Clears the letters, then makes `n` new ones (events that fail once each), oldest first. */
  async function freshLetters(n: number): Promise<DeadLetter[]> {
    await store.put('plugin:sink', 'healed', false)
    await sup.purgeDeadLetters('sink')
    const from = next
    next += n
    for (let i = from; i < from + n; i++) sup.emit('dl:x', { i })
    await until(`${n} dead letters`, async () => (await sup.listDeadLetters('sink')).length === n)
    return sup.listDeadLetters('sink')
  }
  const heal = () => store.put('plugin:sink', 'healed', true)

  before(async () => {
    dir = await PluginDir.create()
    await dir.add('sink', worker('sink', { isolation: 'thread', delivery: 'at-least-once', maxAttempts: 1 }), SINK)
    await dir.add('gate', core('gate'), GATE)
    store = new MemoryStore()
    runtimeDir = path.join(dir.root, 'run')
    sup = (await dir.start({ app, store, control: { runtimeDir }, http: { port: 0 } })) as StartedSupervisor
  })
  after(() => dir.remove())

  it('replays by id and by limit from the CLI, oldest first', async () => {
    const ls = await freshLetters(6)
    await heal()
    const byId = await cli('replay', 'sink', '--id', ls[2].id, '--id', ls[4].id, '--json')
    assert.equal(byId.code, 0, byId.stderr)
    assert.deepEqual(JSON.parse(byId.stdout), { plugin: 'sink', replayed: 2, left: 4, halted: null })
    await until('letters 2 and 4 delivered', async () => {
      const delivered = await seen()
      return [ls[2], ls[4]].every((l) => delivered.includes(iOf(l)))
    })

    const byLimit = await cli('replay', 'sink', '--limit', '1')
    assert.equal(byLimit.code, 0, byLimit.stderr)
    assert.match(byLimit.stdout, /^replayed 1 dead letter\(s\) of sink; 3 left\n$/)
    await until('the oldest delivered', async () => (await seen()).includes(iOf(ls[0])))

    // Ids and a limit together: the oldest of those ids.
    const both = await cli('replay', 'sink', '--id', ls[5].id, ls[3].id, '--limit', '1', '--json')
    assert.equal(both.code, 0, both.stderr)
    assert.deepEqual(JSON.parse(both.stdout), { plugin: 'sink', replayed: 1, left: 2, halted: null })
    assert.deepEqual((await sup.listDeadLetters('sink')).map((l) => l.id), [ls[1].id, ls[5].id])
    await until('letter 3 delivered', async () => (await seen()).includes(iOf(ls[3])))
    assertBooks(plugin(sup, 'sink'))
  })

  it('replays by id and by limit over HTTP, in the envelope', async () => {
    const ls = await freshLetters(4)
    await heal()
    const list = await http<DeadLetter[]>('GET', 'sink/dead-letters')
    assert.equal(list.status, 200)
    assert.deepEqual(list.env.result, ls)

    const byId = await http('POST', 'sink/dead-letters/replay', { ids: [ls[1].id] })
    assert.equal(byId.status, 200)
    assert.deepEqual({ ...byId.env, requestId: undefined }, {
      requestId: undefined, status: 200, error: null, controller: '_plugins/sink', action: 'dead-letters/replay',
      result: { plugin: 'sink', replayed: 1, left: 3, halted: null },
    })
    const byLimit = await http('POST', 'sink/dead-letters/replay', { limit: 2 })
    assert.deepEqual(byLimit.env.result, { plugin: 'sink', replayed: 2, left: 1, halted: null })
    assert.deepEqual((await sup.listDeadLetters('sink')).map((l) => l.id), [ls[3].id])
    // No body: every letter.
    const all = await http('POST', 'sink/dead-letters/replay')
    assert.deepEqual(all.env.result, { plugin: 'sink', replayed: 1, left: 0, halted: null })
    await until('all four delivered', async () => {
      const delivered = await seen()
      return ls.every((l) => delivered.includes(iOf(l)))
    })
  })

  it('purges by id and by time, from the CLI and over HTTP, delivering nothing', async () => {
    const a = await freshLetters(3)
    const lastA = Math.max(...a.map((l) => Date.parse(l.at)))
    // Letters are stamped in milliseconds: the next batch must be stamped later than this one.
    await until('the clock to pass the first batch', () => Date.now() > lastA)
    for (let i = next; i < next + 3; i++) sup.emit('dl:x', { i })
    next += 3
    await until('6 dead letters', async () => (await sup.listDeadLetters('sink')).length === 6)
    const b = (await sup.listDeadLetters('sink')).slice(3)
    const t = b[0].at
    assert.ok(Date.parse(t) > lastA)

    const before = await cli('purge', 'sink', '--before', t, '--json')
    assert.equal(before.code, 0, before.stderr)
    assert.deepEqual(JSON.parse(before.stdout), { plugin: 'sink', purged: 3, left: 3 })
    assert.deepEqual(await sup.listDeadLetters('sink'), b)

    const byId = await cli('purge', 'sink', '--id', b[0].id)
    assert.equal(byId.code, 0, byId.stderr)
    assert.match(byId.stdout, /^purged 1 dead letter\(s\) of sink; 2 left\n$/)

    const overHttp = await http('POST', 'sink/dead-letters/purge', { ids: [b[1].id] })
    assert.equal(overHttp.status, 200)
    assert.deepEqual(overHttp.env.result, { plugin: 'sink', purged: 1, left: 1 })
    assert.equal(overHttp.env.action, 'dead-letters/purge')
    const byTime = await http('POST', 'sink/dead-letters/purge', { before: new Date(Date.now() + 60_000).toISOString() })
    assert.deepEqual(byTime.env.result, { plugin: 'sink', purged: 1, left: 0 })
    const delivered = new Set(await seen())
    for (const l of [...a, ...b]) assert.ok(!delivered.has(iOf(l)), 'a purged letter is never delivered')
    assertBooks(plugin(sup, 'sink'))
  })

  it('refuses malformed ids, limits and times as usage errors (exit 2, 400), unknown ids without touching anything', async () => {
    const ls = await freshLetters(2)
    const usage: Array<[string[], RegExp]> = [
      [['replay', 'sink', '--id', 'nope'], /--id "nope" is not a dead-letter id/],
      [['replay', 'sink', '--limit', '0'], /--limit must be a whole number of at least 1, not 0/],
      [['replay', 'sink', '--limit', 'abc'], /--limit must be a whole number of at least 1, not "abc"/],
      [['purge', 'sink', '--before', 'yesterday'], /--before "yesterday" is not an ISO 8601 time with a zone/],
      [['purge', 'sink', '--before', '2026-11-22T10:00:00'], /--before "2026-11-22T10:00:00" is not an ISO 8601 time with a zone/],
      [['purge', 'sink', '--id', ls[0].id, '--before', '2026-11-22T10:00:00Z'], /give either --id or --before, not both/],
      [['purge', 'sink', '--limit', '1'], /unknown option '--limit'/],
    ]
    for (const [args, message] of usage) {
      const r = await cli(...args)
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, message)
      assert.match(r.stderr, new RegExp(`Usage: outrigger dead-letters ${args[0]}`))
    }
    const unknown = await cli('replay', 'sink', '--id', ls[0].id, '--id', '00000000000001-1-00000001')
    assert.equal(unknown.code, 1)
    assert.match(unknown.stderr, /RIG_ERR_UNKNOWN_DEAD_LETTER: plugin "sink" has no dead letter "00000000000001-1-00000001"; nothing was done/)

    const bad: Array<[string, unknown, string]> = [
      ['replay', { ids: ['nope'] }, 'RIG_ERR_DEAD_LETTER_SELECTION'],
      ['replay', { limit: 0 }, 'RIG_ERR_DEAD_LETTER_SELECTION'],
      ['replay', { before: '2026-11-22' }, 'RIG_ERR_DEAD_LETTER_SELECTION'],
      ['replay', [1, 2], 'RIG_ERR_DEAD_LETTER_SELECTION'],
      ['purge', { before: 'x' }, 'RIG_ERR_DEAD_LETTER_SELECTION'],
      ['purge', { ids: [ls[0].id], before: '2026-11-22T10:00:00Z' }, 'RIG_ERR_DEAD_LETTER_SELECTION'],
      ['purge', '{"ids": [', 'RIG_ERR_HTTP_MALFORMED_JSON'],
    ]
    for (const [op, body, code] of bad) {
      const r = await http('POST', `sink/dead-letters/${op}`, body)
      assert.equal(r.status, 400, `${op} ${JSON.stringify(body)}`)
      assert.equal(r.env.error?.code, code)
      assert.equal(r.env.controller, '_plugins/sink')
    }
    const missing = await http('POST', 'sink/dead-letters/purge', { ids: ['00000000000001-1-00000001'] })
    assert.equal(missing.status, 404)
    assert.equal(missing.env.error?.code, 'RIG_ERR_UNKNOWN_DEAD_LETTER')
    for (const route of ['nobody/dead-letters', 'gate/dead-letters']) {
      const r = await http('GET', route)
      assert.equal(r.status, 404, route)
      assert.equal(r.env.error?.code, 'RIG_ERR_UNKNOWN_PLUGIN')
    }
    const wrongMethod = await http('GET', 'sink/dead-letters/replay')
    assert.equal(wrongMethod.status, 405)
    assert.equal(wrongMethod.allow, 'POST')
    assert.equal((await http('POST', 'sink/frobnicate')).status, 404)
    assert.deepEqual(await sup.listDeadLetters('sink'), ls, 'nothing was touched')
  })

  it('goes through the auth and permission slots, which see the operation by name', async () => {
    const ls = await freshLetters(1)
    const heard = (globalThis as { __heard?: unknown[] }).__heard!
    heard.length = 0
    const anonymous = await http('GET', 'sink/dead-letters', undefined, null)
    assert.equal(anonymous.status, 401)
    const guestList = await http('GET', 'sink/dead-letters', undefined, 'guest')
    assert.equal(guestList.status, 200)
    const guestReplay = await http('POST', 'sink/dead-letters/replay', {}, 'guest')
    assert.equal(guestReplay.status, 403)
    assert.equal(guestReplay.env.error?.code, 'RIG_ERR_HTTP_FORBIDDEN')
    const guestPurge = await http('POST', 'sink/dead-letters/purge', {}, 'guest')
    assert.equal(guestPurge.status, 403)
    assert.deepEqual(heard, [
      { plugin: '_plugins', controller: 'sink', action: 'dead-letters' },
      { plugin: '_plugins', controller: 'sink', action: 'dead-letters/replay' },
      { plugin: '_plugins', controller: 'sink', action: 'dead-letters/purge' },
    ])
    assert.deepEqual(await sup.listDeadLetters('sink'), ls)
    const info = (await (await fetch(`${sup.httpUrl}/_info`, { headers: { 'x-user': 'ops' } })).json()) as { routes: Array<{ methods: string[]; path: string }> }
    assert.deepEqual(
      info.routes.filter((r) => r.path.startsWith('/_/_plugins/')),
      [
        { methods: ['GET'], path: '/_/_plugins/:plugin/dead-letters' },
        { methods: ['POST'], path: '/_/_plugins/:plugin/dead-letters/replay' },
        { methods: ['POST'], path: '/_/_plugins/:plugin/dead-letters/purge' },
        { methods: ['POST'], path: '/_/_plugins/:plugin/restart' },
        { methods: ['POST'], path: '/_/_plugins/:plugin/reload' },
      ],
    )
  })
})
