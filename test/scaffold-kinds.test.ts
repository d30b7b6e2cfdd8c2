/**
 * `outrigger new --kind <kind>`: every kind scaffolds a plugin that `validate` accepts, whose own
 * test passes, and that does what its kind does once a supervisor runs it.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { KINDS } from '../src/cli/kind-templates.js'
import { startSupervisor } from '../src/start.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { rig } from './helpers/cli-run.js'
import { until } from './helpers/wait.js'

const nodeTest = (cwd: string): Promise<{ code: number; out: string }> =>
  new Promise((resolve) => execFile(process.execPath, ['--test'], { cwd, timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, out: stdout + stderr })))

describe('outrigger new --kind', () => {
  let root: string
  let available: string
  let enabled: string
  const opts = () => ({ runtimeDir: path.join(root, 'run'), cwd: root })
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'rig-kinds-'))
    available = path.join(root, 'plugins', 'available')
    enabled = path.join(root, 'plugins', 'enabled')
    await mkdir(available, { recursive: true })
    await mkdir(enabled, { recursive: true })
    await writeFile(path.join(root, 'package.json'), '{"type":"module"}\n')
  })
  after(() => rm(root, { recursive: true, force: true }))

  // The protocol kind has its own test (protocol-example.test.ts).
  for (const kind of ['source', 'sink']) {
    it(`--kind ${kind} writes a plugin that validates and whose own test passes`, async () => {
      const name = `my-${kind}`
      const made = await rig(['new', name, '--kind', kind, '--type', KINDS[kind].only ?? 'worker', '--dir', available], opts())
      assert.equal(made.code, 0, made.stderr)
      assert.match(made.stdout, new RegExp(`created ${kind} plugin ${name}`))
      const v = await rig(['validate', path.join(available, name)], opts())
      assert.equal(v.code, 0, v.stdout + v.stderr)
      const own = await nodeTest(path.join(available, name))
      assert.equal(own.code, 0, own.out)
    })
  }

  it('refuses an unknown kind with a usage error naming the kinds', async () => {
    const r = await rig(['new', 'x', '--kind', 'gadget'], opts())
    assert.equal(r.code, 2)
    assert.match(r.stderr, /--kind must be one of source, sink/)
  })

  describe('run by a supervisor', () => {
    let sup: Supervisor
    before(async () => {
      for (const name of ['my-source', 'my-sink']) await symlink(path.join('..', 'available', name), path.join(enabled, name), 'dir')
      await mkdir(path.join(available, 'ears'))
      await writeFile(path.join(available, 'ears', 'manifest.json'), JSON.stringify({ name: 'ears', version: '1.0.0', type: 'core' }))
      await writeFile(path.join(available, 'ears', 'index.js'), `const heard = []; export default { hooks: { 'my-source:tick'(p) { heard.push(p.n) } }, functions: { heard: () => heard } }`)
      await symlink(path.join('..', 'available', 'ears'), path.join(enabled, 'ears'), 'dir')
      sup = await startSupervisor({ app: 'kinds', pluginsDir: enabled, stateDir: path.join(root, 'state'), store: 'memory', control: false, http: false, config: { logLevel: 'silent' } })
    })
    after(() => sup?.stop())

    it('the source emits its ticks', async () => {
      const heard = await until('three ticks', async () => {
        const h = await sup.call<number[]>('ears.heard')
        return h.length >= 3 && h
      })
      assert.deepEqual(heard.slice(0, 3), [0, 1, 2])
    })

    it('the sink writes what matches its pattern into its data folder', async () => {
      for (let i = 0; i < 5; i++) sup.emit('my-sink:note', { i })
      const lines = await until('five lines', async () => {
        const text = await readFile(path.join(root, 'state', 'data', 'my-sink', 'my-sink.ndjson'), 'utf8').catch(() => '')
        const l = text.split('\n').filter(Boolean)
        return l.length === 5 && l
      })
      assert.deepEqual(lines.map((l) => JSON.parse(l).payload.i), [0, 1, 2, 3, 4])
    })
  })
})
