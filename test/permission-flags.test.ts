import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'
import { inspectorAllowed, nodeSupport, permissionFlags, quietFlags, runtimeReadPaths, type NodePermissionSupport } from '../src/hosts/permission-flags.js'
import { PermissionsSchema } from '../src/manifest/permissions.js'
import { ManifestSchema } from '../src/manifest/schema.js'

/** What Node 20 and Node 24 offer, as each binary reports it (checked on both here). */
const NODE20: NodePermissionSupport = { major: 20, flag: '--experimental-permission', inspector: false, disableWarning: true }
const NODE24: NodePermissionSupport = { major: 24, flag: '--permission', inspector: true, disableWarning: true }
const WHERE = { rootPath: '/srv/app/plugins/available/audit', dataDir: '/srv/app/state/data/audit' }
const RUNTIME = ['/srv/app/node_modules/outrigger/dist/workers', '/srv/app/node_modules/outrigger/dist/src', '/srv/app/node_modules/comlink']
const perms = (p: object = {}) => PermissionsSchema.parse(p)
const asIs = (p: string) => p

describe('permission flags', () => {
  it('confine to the plugin folder, its data folder and the runtime by default', () => {
    assert.deepEqual(permissionFlags(perms(), WHERE, NODE24, RUNTIME, asIs), [
      '--permission',
      `--allow-fs-read=${WHERE.rootPath}`,
      `--allow-fs-read=${WHERE.dataDir}`,
      ...RUNTIME.map((r) => `--allow-fs-read=${r}`),
      `--allow-fs-write=${WHERE.dataDir}`,
    ])
    assert.equal(permissionFlags(perms(), WHERE, NODE20, RUNTIME, asIs)[0], '--experimental-permission')
  })

  it('resolve paths against the plugin folder, one flag per path, and leave absolute ones and * alone', () => {
    const flags = permissionFlags(perms({ fs: { read: ['conf', '../../shared', '/etc/ssl/certs', 'conf'], write: ['logs'] } }), WHERE, NODE24, RUNTIME, asIs)
    assert.ok(flags.includes('--allow-fs-read=/srv/app/plugins/available/audit/conf'))
    assert.ok(flags.includes('--allow-fs-read=/srv/app/plugins/shared'))
    assert.ok(flags.includes('--allow-fs-read=/etc/ssl/certs'))
    assert.equal(flags.filter((f) => f.endsWith('/audit/conf')).length, 1, 'a repeated path gives one flag')
    assert.ok(flags.includes('--allow-fs-write=/srv/app/plugins/available/audit/logs'))
    assert.deepEqual(permissionFlags(perms({ fs: { read: ['*'], write: ['*'] } }), WHERE, NODE24, RUNTIME, asIs), ['--permission', '--allow-fs-read=*', '--allow-fs-write=*'])
  })

  it('allow a linked path by its real path too (the module loader opens a module by it)', () => {
    const linked = (p: string) => (p.endsWith('/node_modules/zod') ? '/srv/app/node_modules/.pnpm/zod@4/node_modules/zod' : p)
    const flags = permissionFlags(perms({ fs: { read: ['../../../node_modules/zod'] } }), WHERE, NODE24, RUNTIME, linked)
    assert.ok(flags.includes('--allow-fs-read=/srv/app/node_modules/zod'))
    assert.ok(flags.includes('--allow-fs-read=/srv/app/node_modules/.pnpm/zod@4/node_modules/zod'))
  })

  it('map each switch to its flag, and nothing unasked', () => {
    const all = permissionFlags(perms({ childProcess: true, workerThreads: true, addons: true, wasi: true }), WHERE, NODE24, RUNTIME, asIs)
    assert.deepEqual(all.filter((f) => !f.startsWith('--allow-fs')), ['--permission', '--allow-child-process', '--allow-worker', '--allow-addons', '--allow-wasi'])
    const none = permissionFlags(perms(), WHERE, NODE24, RUNTIME, asIs)
    assert.deepEqual(none.filter((f) => !f.startsWith('--allow-fs')), ['--permission'])
  })

  it('quiet Node 20\'s ExperimentalWarning only', () => {
    assert.deepEqual(quietFlags(NODE20), ['--disable-warning=ExperimentalWarning'])
    assert.deepEqual(quietFlags(NODE24), [])
  })

  it('read the running binary: the flags it builds are ones it accepts', async () => {
    const node = nodeSupport()
    assert.equal(node.major, Number(process.versions.node.split('.')[0]))
    assert.ok(process.allowedNodeEnvironmentFlags.has(node.flag))
    // The runtime's folders exist where the child will import from.
    const runtime = runtimeReadPaths()
    for (const dir of runtime) assert.ok(existsSync(dir), dir)
    assert.equal(path.basename(runtime[2]), 'comlink')
    const flags = [...permissionFlags(perms({ wasi: true }), { rootPath: process.cwd(), dataDir: process.cwd() }), ...quietFlags()]
    const { code, out } = await new Promise<{ code: number; out: string }>((resolve) =>
      execFile(process.execPath, [...flags, '--no-warnings', '-e', 'console.log(process.permission.has("fs.read", require("path").join(process.cwd(), "package.json")), process.permission.has("fs.write", "/"))'], (err, stdout, stderr) =>
        resolve({ code: err ? 1 : 0, out: stdout + stderr })),
    )
    assert.equal(code, 0, out)
    assert.equal(out.trim(), 'true false')
  })

  it('say whether a confined child can be profiled', () => {
    assert.deepEqual(inspectorAllowed(undefined, NODE20), { allowed: true, flags: [], opens: null })
    const on20 = inspectorAllowed(perms(), NODE20)
    assert.equal(on20.allowed, false)
    assert.match(on20.allowed ? '' : on20.reason, /Node 20 has no --allow-inspector/)
    const on24 = inspectorAllowed(perms(), NODE24)
    assert.ok(on24.allowed)
    assert.deepEqual(on24.flags, ['--allow-inspector', '--allow-worker'])
    assert.match(on24.opens ?? '', /worker threads/)
    const threads = inspectorAllowed(perms({ workerThreads: true }), NODE24)
    assert.deepEqual(threads.allowed && threads.flags, ['--allow-inspector'])
  })
})

describe('worker.permissions in the manifest', () => {
  const manifest = (w: object) => ManifestSchema.safeParse({ name: 'audit', version: '1.0.0', type: 'worker', worker: w })

  it('takes defaults for what is left out', () => {
    const m = manifest({ isolation: 'process', permissions: {} })
    assert.ok(m.success)
    assert.deepEqual(m.data.worker?.permissions, { fs: { read: [], write: [] }, childProcess: false, workerThreads: false, addons: false, wasi: false })
    assert.equal(manifest({ isolation: 'process' }).data?.worker?.permissions, undefined, 'unset: unconfined')
  })

  it('refuses it beside thread isolation, and unknown fields', () => {
    const thread = manifest({ permissions: {} })
    assert.equal(thread.success, false)
    assert.deepEqual(thread.error?.issues[0].path, ['worker', 'permissions'])
    assert.match(thread.error!.issues[0].message, /a worker thread shares the host's process/)
    assert.equal(manifest({ isolation: 'process', permissions: { net: true } }).success, false)
    assert.equal(manifest({ isolation: 'process', permissions: { fs: { read: [''] } } }).success, false)
  })
})
