/**
 * The examples of docs/plugins.md: every folder of docs/examples runs in a real supervisor and
 * does what the page says, and the code the page shows is the code in the folder.
 */
import assert from 'node:assert/strict'
import { readdir, readFile, symlink, writeFile, appendFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { MemoryStore } from '../src/state/memory-store.js'
import { pluginState } from '../src/state/plugin-state.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { PluginDir, core } from './helpers/plugins.js'
import { until } from './helpers/wait.js'

/** The compiled test runs from dist/test. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const EXAMPLES = path.join(ROOT, 'docs', 'examples')

type Scenario = (dir: PluginDir, enable: () => Promise<void>) => Promise<void>

/** What each example must do; an example folder without a scenario fails the suite. */
const SCENARIOS: Record<string, Scenario> = {
  'word-count': async (dir, enable) => {
    await enable()
    const sup = await dir.start()
    sup.emit('text:a', { text: 'one two  three' })
    sup.emit('text:b', { text: 'four' })
    sup.emit('other:x', { text: 'not counted' })
    await until('four words', async () => (await sup.call<number>('word-count.words')) === 4)
  },

  lines: async (dir, enable) => {
    await enable()
    await dir.add('ears', core('ears'), `const heard = []; export default { hooks: { 'lines:line'(p) { heard.push(p) } }, functions: { heard: () => heard } }`)
    const file = path.join(dir.root, 'input.txt')
    await writeFile(file, Array.from({ length: 250 }, (_, i) => `line ${i + 1}`).join('\n') + '\n')
    const store = new MemoryStore()
    const config = { logLevel: 'silent' as const, plugins: { lines: { options: { file } } } }
    let sup: Supervisor = await dir.start({ store, config })
    let heard = await until('250 lines', async () => {
      const h = await sup.call<Array<{ n: number; text: string }>>('ears.heard')
      return h.length === 250 && h
    }, 20_000)
    assert.deepEqual(heard.map((l) => l.n), Array.from({ length: 250 }, (_, i) => i + 1))
    assert.equal(heard[249].text, 'line 250')
    await until('the checkpoint', async () => (await pluginState(store, 'lines').getState('line')) === 250)
    await sup.stop()
    // A new run on the same state: only what came after the checkpoint.
    await appendFile(file, 'line 251\nline 252\n')
    sup = await dir.start({ store, config })
    // The core plugin's module (and its list) outlives a supervisor in this process: the new run adds to it.
    heard = await until('the two new lines', async () => {
      const h = await sup.call<Array<{ n: number; text: string }>>('ears.heard')
      return h.length >= 252 && h
    }, 20_000)
    await until('the new checkpoint', async () => (await pluginState(store, 'lines').getState('line')) === 252)
    assert.deepEqual(heard.slice(250).map((l) => l.n), [251, 252], 'nothing before the checkpoint again')
  },

  'csv-sink': async (dir, enable) => {
    await enable()
    const sup = await dir.start()
    for (let i = 0; i < 120; i++) sup.emit('metrics:cpu', { name: `host${i % 3}`, value: i })
    const rows = await until('120 rows', async () => {
      const text = await readFile(path.join(dir.stateDir, 'data', 'csv-sink', 'metrics.csv'), 'utf8').catch(() => '')
      const r = text.split('\n').filter(Boolean)
      return r.length === 120 && r
    }, 20_000)
    assert.equal(rows[0], 'metrics:cpu,host0,0')
    assert.equal(rows[119], 'metrics:cpu,host2,119')
    const s = sup.status().plugins.find((p) => p.name === 'csv-sink')!.sinks!['metrics:*']
    assert.deepEqual([s.batches, s.events, s.written], [3, 120, 3])
  },
}

/** Examples whose scenario lives in a test of their own. */
const ELSEWHERE: Record<string, string> = { 'ws-echo': 'protocol-example.test.ts' }

describe('the examples of docs/plugins.md', () => {
  let dir: PluginDir
  beforeEach(async () => {
    dir = await PluginDir.create()
  })
  afterEach(() => dir.remove())

  it('every example folder has a scenario here, and the page shows each entry as it is', async () => {
    const folders = (await readdir(EXAMPLES, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort()
    assert.deepEqual(folders.filter((f) => !SCENARIOS[f] && !ELSEWHERE[f]), [], 'an example without a scenario')
    const page = await readFile(path.join(ROOT, 'docs', 'plugins.md'), 'utf8')
    const shown = [...page.matchAll(/<!-- example: (\S+) -->\n```js\n([\s\S]*?)\n```/g)]
    for (const [, file, code] of shown) assert.equal(code, (await readFile(path.join(EXAMPLES, file), 'utf8')).trimEnd(), `docs/plugins.md shows ${file} as it is`)
    for (const f of Object.keys(SCENARIOS)) assert.ok(shown.some(([, file]) => file.startsWith(`${f}/`)), `docs/plugins.md shows ${f}`)
  })

  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    it(`${name} does what the page says`, () => scenario(dir, () => symlink(path.join(EXAMPLES, name), path.join(dir.enabled, name), 'dir')))
  }
})
