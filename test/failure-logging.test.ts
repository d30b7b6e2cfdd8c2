import assert from 'node:assert/strict'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { pino } from 'pino'
import type { PluginLogger } from '../src/plugin/types.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { PluginDir, core, worker } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

const plugin = (sup: Supervisor, name: string) => sup.status().plugins.find((p) => p.name === name)!
const isolations = (process.env.ISOLATION ? [process.env.ISOLATION] : ['thread', 'process']) as Array<'thread' | 'process'>

interface Line {
  level: number
  msg: string
  plugin?: string
  event?: string
  err?: { type: string; message: string; stack?: string; code?: string }
}

/** A real pino logger writing JSON lines into memory: what an operator's log would hold. */
function capturedPino(): { logger: PluginLogger; lines: Line[] } {
  const lines: Line[] = []
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) })
  return { logger: logger as unknown as PluginLogger, lines }
}

/** Lines at warn or above about one plugin. */
const problems = (lines: Line[], name: string) => lines.filter((l) => l.level >= 40 && l.plugin === name)
const count = (text: string, part: string) => text.split(part).length - 1

describe('every plugin failure is logged once, as text', () => {
  let dir: PluginDir
  let sup: Supervisor | undefined
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  it('writes one line per failed load or start, naming the plugin and the cause once', async () => {
    await dir.add('notype', { name: 'notype', version: '1.0.0' })
    await dir.add('badjson', '{ "name": "badjson", ')
    await dir.add('coresyntax', core('coresyntax'), `export default {\n  hooks: {\n    'a:b'() { foo(; }\n  }\n}\n`)
    await dir.add('coreinit', core('coreinit'), `export default { init() { throw new Error('database URL missing: set options.url') } }`)
    await dir.add('initthrow', worker('initthrow'), `export default { init() { throw new Error('database URL missing: set options.url') } }`)
    await dir.add('fine', core('fine'))
    const { logger, lines } = capturedPino()
    sup = await dir.start({ logger })
    const cause: Record<string, string> = {
      notype: 'type:',
      badjson: 'not valid JSON',
      coresyntax: "Unexpected token ';'",
      coreinit: 'database URL missing: set options.url',
      initthrow: 'database URL missing: set options.url',
    }
    for (const [name, text] of Object.entries(cause)) {
      const mine = problems(lines, name)
      assert.equal(mine.length, 1, `${name}: one line, found ${JSON.stringify(mine)}`)
      const [line] = mine
      assert.equal(line.level, 50, `${name} is logged as an error`)
      assert.ok(line.msg.includes(`"${name}"`), `${name} is named: ${line.msg}`)
      assert.equal(count(line.msg, text), 1, `${name}: the cause once in the message: ${line.msg}`)
      assert.ok(line.err, `${name}: err is there`)
      assert.notEqual(line.err.type, 'Object', `${name}: err is an error, not {"type":"Object"}`)
      assert.equal(count(line.err.message, text), 1, `${name}: the cause once in err.message: ${line.err.message}`)
      assert.equal(plugin(sup, name).state, 'failed')
      assert.equal(count(plugin(sup, name).lastError!.message, text), 1)
    }
    assert.equal(problems(lines, 'fine').length, 0)
  })

  for (const isolation of isolations) {
    it(`reports a worker plugin's syntax error with its file, line and column (${isolation})`, async () => {
      const entry = path.join(await dir.add('broken', worker('broken', { isolation }), `export default {\n  hooks: {\n    'a:b'() { foo(; }\n  }\n}\n`), 'index.js')
      const { logger, lines } = capturedPino()
      sup = await dir.start({ logger })
      const p = plugin(sup, 'broken')
      assert.equal(p.state, 'failed')
      assert.ok(p.lastError!.message.includes(`${entry}:3:19: Unexpected token ';'`), p.lastError!.message)
      const mine = problems(lines, 'broken')
      assert.equal(mine.length, 1, JSON.stringify(mine))
      assert.ok(mine[0].msg.includes(`${entry}:3:19`), mine[0].msg)
    })
  }

  it("reports a core plugin's syntax error with its file, line and column", async () => {
    const entry = path.join(await dir.add('broken', core('broken'), `const a = 1\nconst b = 2\nexport default { init() { return a + b }, }}\n`), 'index.js')
    sup = await dir.start()
    const { message } = plugin(sup, 'broken').lastError!
    assert.match(message, /syntax error at .*index\.js:3:\d+: Unexpected token '}'/)
    assert.ok(message.includes(`${entry}:3:`), message)
  })

  for (const type of ['core', 'worker'] as const) {
    it(`says what to do when an ES-module entry sits in a CommonJS package (${type})`, async () => {
      // What `npm init -y` writes: a package.json that says "type": "commonjs".
      const folder = await dir.add('cjs', type === 'core' ? core('cjs') : worker('cjs'), `// a plugin\nexport default { hooks: {} }\n`, { files: { 'package.json': '{ "name": "cjs", "type": "commonjs" }\n' } })
      sup = await dir.start()
      const { message } = plugin(sup, 'cjs').lastError!
      assert.ok(message.includes("Unexpected token 'export'"), message)
      assert.ok(message.includes(`add "type": "module" to ${path.join(folder, 'package.json')}`), message)
      assert.ok(message.includes('or name the file .mjs'), message)
      assert.ok(message.includes('index.js:2:1'), message)
    })
  }

  for (const isolation of isolations) {
    it(`writes one readable line per at-most-once hook failure and sets lastError (${isolation})`, async () => {
      await dir.add('thrower', worker('thrower', { isolation }), `export default { hooks: { 'job:run'(p) { throw new Error('no such customer ' + p.id) } } }`)
      const { logger, lines } = capturedPino()
      sup = await dir.start({ logger })
      assert.equal(plugin(sup, 'thrower').lastError, null)
      sup.emit('job:run', { id: 42 })
      await until('the failure is counted', () => plugin(sup!, 'thrower').events.failed === 1)
      const mine = problems(lines, 'thrower')
      assert.equal(mine.length, 1, JSON.stringify(mine))
      const [line] = mine
      assert.equal(line.msg, 'hook "job:run" of plugin "thrower" failed: no such customer 42')
      assert.equal(line.err?.type, 'Error')
      assert.equal(line.err?.message, 'no such customer 42')
      assert.ok(line.err?.stack?.includes('no such customer 42'), 'the stack travels in err, not in the message')
      assert.deepEqual(plugin(sup, 'thrower').lastError, { code: null, message: 'no such customer 42' })
    })
  }

  it('sets lastError after a core hook fails, and logs it once', async () => {
    await dir.add('corethrow', core('corethrow'), `export default { hooks: { 'job:run'() { const e = new Error('quota exceeded'); e.code = 'EQUOTA'; throw e } } }`)
    const { logger, lines } = capturedPino()
    sup = await dir.start({ logger })
    sup.emit('job:run', {})
    await until('the failure is counted', () => plugin(sup!, 'corethrow').events.failed === 1)
    assert.deepEqual(plugin(sup, 'corethrow').lastError, { code: 'EQUOTA', message: 'quota exceeded' })
    const mine = problems(lines, 'corethrow')
    assert.equal(mine.length, 1, JSON.stringify(mine))
    assert.equal(mine[0].err?.code, 'EQUOTA')
  })

  it('writes a line for a dead-lettered event', async () => {
    await dir.add('picky', worker('picky', { delivery: 'at-least-once', maxAttempts: 2 }), `export default { hooks: { 'order:paid'(p) { throw new Error('ledger closed for ' + p.order) } } }`)
    const { logger, lines } = capturedPino()
    sup = await dir.start({ logger })
    sup.emit('order:paid', { order: 7 })
    await until('dead-lettered', () => plugin(sup!, 'picky').events.deadLettered === 1)
    const mine = problems(lines, 'picky')
    assert.equal(mine.length, 1, JSON.stringify(mine))
    assert.equal(mine[0].event, 'order:paid')
    assert.match(mine[0].msg, /event "order:paid" dead-lettered after 2 attempt\(s\): ledger closed for 7/)
    assert.equal(plugin(sup, 'picky').lastError?.message, 'ledger closed for 7')
  })

  it('validate names the line of a syntax error too', async () => {
    const folder = await dir.add('v', core('v'), `export default {\n  init() { return 1 +; }\n}\n`)
    const { validatePlugin } = await import('../src/cli/validate.js')
    const v = await validatePlugin(folder)
    assert.equal(v.ok, false)
    assert.ok(v.problems.some((p) => p.includes('index.js:2:')), JSON.stringify(v.problems))
  })
})
