/**
 * Installing the usual way: `npm ci` accepts the lockfile (every optional binary of every locked
 * package has an entry, whatever the platform), CI installs with it, npm 11's install-script
 * approvals are settled in package.json, and the CLI runs from a clone through its npm script.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, it } from 'node:test'
import { VERSION } from '../src/version.js'
import { ROOT } from './helpers/cli-run.js'

interface LockEntry {
  version?: string
  optional?: boolean
  os?: string[]
  cpu?: string[]
  hasInstallScript?: boolean
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
}

const readJson = async <T>(file: string): Promise<T> => JSON.parse(await readFile(path.join(ROOT, file), 'utf8')) as T

describe('install', () => {
  it('the lockfile has an entry for every dependency npm ci will look for, other platforms included', async () => {
    const lock = await readJson<{ packages: Record<string, LockEntry> }>('package-lock.json')
    const missing: string[] = []
    for (const [at, entry] of Object.entries(lock.packages)) {
      for (const dep of [...Object.keys(entry.dependencies ?? {}), ...Object.keys(entry.optionalDependencies ?? {})]) {
        // Node's resolution: the package's own node_modules, then each folder up to the root.
        const candidates: string[] = []
        for (let dir = at; ; dir = dir.includes('/node_modules/') ? dir.slice(0, dir.lastIndexOf('/node_modules/')) : '') {
          candidates.push(dir ? `${dir}/node_modules/${dep}` : `node_modules/${dep}`)
          if (!dir) break
        }
        if (!candidates.some((c) => lock.packages[c])) missing.push(`${dep} (for ${at || 'the root'})`)
      }
    }
    assert.deepEqual(missing, [])
    for (const platform of ['darwin-arm64', 'darwin-x64', 'linux-arm', 'linux-arm64', 'linux-x64', 'win32-x64']) {
      const e = lock.packages[`node_modules/@msgpackr-extract/msgpackr-extract-${platform}`]
      assert.ok(e?.version && e.optional && e.os?.length && e.cpu?.length, `${platform} has version, os, cpu and optional`)
      assert.equal(e.version, lock.packages['node_modules/msgpackr-extract']!.optionalDependencies![`@msgpackr-extract/msgpackr-extract-${platform}`], `${platform} in step with msgpackr-extract`)
    }
  })

  it('CI installs with npm ci and installs promtool', async () => {
    const ci = await readFile(path.join(ROOT, '.ci', 'run'), 'utf8')
    const commands = ci.split('\n').filter((l) => !l.trim().startsWith('#'))
    assert.ok(commands.some((l) => /^npm ci\b/.test(l.trim())), 'npm ci')
    assert.ok(!commands.some((l) => /^npm install\b(?!.*--prefix)/.test(l.trim())), 'no plain npm install of the project')
    assert.ok(commands.some((l) => /apt-get install .*--no-install-recommends prometheus/.test(l)), 'promtool from Debian')
  })

  it('every locked package with an install script is approved or denied in allowScripts', async () => {
    const lock = await readJson<{ packages: Record<string, LockEntry> }>('package-lock.json')
    const pkg = await readJson<{ allowScripts?: Record<string, boolean> }>('package.json')
    const withScripts = Object.entries(lock.packages)
      .filter(([, e]) => e.hasInstallScript)
      .map(([at]) => at.slice(at.lastIndexOf('node_modules/') + 'node_modules/'.length))
    assert.deepEqual(withScripts.sort(), ['lmdb', 'msgpackr-extract'])
    for (const name of withScripts) assert.equal(pkg.allowScripts?.[name], false, `${name}: its prebuilt binaries ship, so its script is denied`)
  })

  it('npm run outrigger runs the CLI from the clone, arguments passed through', async () => {
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile('npm', ['run', '--silent', 'outrigger', '--', '--version'], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }))
    })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout.trim(), VERSION)
    const pkg = await readJson<{ scripts: Record<string, string> }>('package.json')
    assert.equal(pkg.scripts.outrigger, 'node bin/outrigger.cjs', 'no build, no npx: straight to the binary')
  })
})
