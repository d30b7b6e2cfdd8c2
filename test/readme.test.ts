/**
 * The README and docs/demo.md as a new user follows them: `outrigger new` writes exactly the
 * plugin the README shows and says what to do next, the host example prints the count it
 * promises, and the demo's documented `emit` payload is processed by both worker plugins.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startSupervisor } from '../src/start.js'
import type { Supervisor } from '../src/supervisor/types.js'
import { ROOT, rig } from './helpers/cli-run.js'
import { until } from './helpers/wait.js'

/** The fenced blocks of a markdown text whose first line contains `marker`, without that line. */
function blocks(md: string, marker: string): string[] {
  const out: string[] = []
  for (const m of md.matchAll(/```[a-z]*\n([\s\S]*?)```/g)) {
    const [first, ...rest] = m[1]!.split('\n')
    if (first!.includes(marker)) out.push(rest.join('\n'))
  }
  return out
}

function node(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr }),
    )
  })
}

describe('the README, followed to the letter', () => {
  let project: string
  let readme: string
  before(async () => {
    readme = await readFile(path.join(ROOT, 'README.md'), 'utf8')
    // A host project: Outrigger installed (linked, as `npm install <path>` does), a plugins folder.
    project = await mkdtemp(path.join(tmpdir(), 'rig-readme-'))
    await mkdir(path.join(project, 'node_modules'))
    await symlink(ROOT, path.join(project, 'node_modules', 'outrigger'), 'dir')
    await mkdir(path.join(project, 'plugins', 'available'), { recursive: true })
  })
  after(() => rm(project, { recursive: true, force: true }))

  it('outrigger new writes the manifest and entry the README shows, and says what to do next', async () => {
    const opts = { runtimeDir: path.join(project, 'run'), cwd: project }
    const made = await rig(['new', 'greeter', '--type', 'worker', '--isolation', 'thread', '--dir', 'plugins/available'], opts)
    assert.equal(made.code, 0, made.stderr)
    const dir = path.join(project, 'plugins', 'available', 'greeter')
    const [manifest] = blocks(readme, 'plugins/available/greeter/manifest.json')
    const [entry] = blocks(readme, 'plugins/available/greeter/index.js')
    assert.ok(manifest && entry, 'the README shows both files')
    assert.equal(await readFile(path.join(dir, 'manifest.json'), 'utf8'), manifest)
    assert.equal(await readFile(path.join(dir, 'index.js'), 'utf8'), entry)
    assert.equal(JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')).type, 'module', 'the entry is an ES module')
    // Made in plugins/available: the hint is to enable it, not to move it there.
    assert.doesNotMatch(made.stdout, /put it in plugins\/available|move it/)
    assert.match(made.stdout, /next: outrigger validate plugins\/available\/greeter\n\s+outrigger plugins enable greeter\s/)
    const elsewhere = await rig(['new', 'stray'], opts)
    assert.equal(elsewhere.code, 0, elsewhere.stderr)
    assert.match(elsewhere.stdout, /move it into plugins\/available\/, then: outrigger plugins enable stray/)
    const enabled = await rig(['plugins', 'enable', 'greeter'], opts)
    assert.equal(enabled.code, 0, enabled.stderr)
  })

  it("the host example prints the count after the worker processed the event", async () => {
    const [example] = blocks(readme, "import { startSupervisor } from 'outrigger'")
    assert.ok(example, 'the README has the host example')
    await writeFile(path.join(project, 'host.mjs'), `import { startSupervisor } from 'outrigger'\n${example}`)
    const r = await node(['host.mjs'], project)
    assert.equal(r.code, 0, r.stderr)
    // pino's JSON lines share stdout with what the example prints.
    const printed = r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('{"level"'))
    assert.equal(printed[0], '1', r.stdout)
  })
})

describe("the demo's documented emit payload", () => {
  let root: string
  let sup: Supervisor
  let run: (...args: string[]) => ReturnType<typeof rig>
  const plugin = (name: string) => sup.status().plugins.find((p) => p.name === name)!

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'rig-emit-'))
    await mkdir(path.join(root, 'enabled'))
    for (const p of ['shop', 'analytics', 'audit']) await symlink(path.join(ROOT, 'plugins', 'available', p), path.join(root, 'enabled', p), 'dir')
    sup = await startSupervisor({
      app: 'demo-emit',
      pluginsDir: path.join(root, 'enabled'),
      stateDir: path.join(root, 'state'),
      store: 'memory',
      http: false,
      control: { runtimeDir: path.join(root, 'run') },
      config: { logLevel: 'silent', plugins: { analytics: { options: { costMs: 1 } } } },
    })
    run = (...args) => rig(['--app', 'demo-emit', ...args], { runtimeDir: path.join(root, 'run') })
  })
  after(async () => {
    await sup.stop()
    await rm(root, { recursive: true, force: true })
  })

  it('is processed by analytics and audit, and a payload without that shape is not', async () => {
    const demo = await readFile(path.join(ROOT, 'docs', 'demo.md'), 'utf8')
    const m = /npm run outrigger -- emit (\S+) '([^']+)'/.exec(demo)
    assert.ok(m, 'docs/demo.md shows an emit with a payload')
    const [, event, json] = m
    const emitted = await run('emit', event!, json!)
    assert.equal(emitted.code, 0, emitted.stderr)
    assert.equal(emitted.stdout.trim(), `emitted ${event}`)
    await until('both workers to process it', () => plugin('analytics').events.processed === 1 && plugin('audit').events.processed === 1)
    assert.equal(plugin('analytics').events.failed, 0)
    const tail = await run('call', 'audit.tail', '{"n":1}', '--json')
    assert.equal(tail.code, 0, tail.stderr)
    const [line] = JSON.parse(tail.stdout) as Array<{ orderId: number; item: string; qty: number }>
    assert.deepEqual([line!.orderId, line!.item, line!.qty], [9001, 'widget', 2])

    // As the page warns: another shape fails in analytics and ends among audit's dead letters.
    assert.equal((await run('emit', event!, '{"item":"widget"}')).code, 0)
    await until('analytics to fail it and audit to dead-letter it', () => plugin('analytics').events.failed === 1 && plugin('audit').events.deadLettered === 1, 30_000)
  })
})
