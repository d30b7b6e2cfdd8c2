/**
 * A start that fails exits, under a real pm2 daemon (its own PM2_HOME in a temp folder) started
 * from the real ecosystem.config.js: pm2's IPC channel must not keep a supervisor that could not
 * start alive and `online`. pm2 has to see a crash (a non-zero exit) and restart it with backoff.
 * The daemon is killed at the end whatever happened.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ROOT } from './helpers/cli-run.js'
import { alive, until } from './helpers/wait.js'

const PM2 = path.join(ROOT, 'node_modules', '.bin', 'pm2')

interface Pm2Proc {
  name: string
  pid: number
  pm2_env: { status: string; restart_time: number; exit_code?: number; pm_err_log_path?: string }
}

let tmp = ''
let baseEnv: NodeJS.ProcessEnv = {}
const seenPids = new Set<number>()
/** Every pm2 home used: each app gets a daemon of its own (see assertCrashLoops). */
const homes: string[] = []

function pm2(args: string[], env: NodeJS.ProcessEnv = baseEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(PM2, args, { cwd: ROOT, env, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })
    })
  })
}

async function proc(name: string, env: NodeJS.ProcessEnv): Promise<Pm2Proc | undefined> {
  const r = await pm2(['jlist'], env)
  const list = JSON.parse(r.stdout.slice(r.stdout.indexOf('['))) as Pm2Proc[]
  const found = list.find((p) => p.name === name)
  if (found?.pid) seenPids.add(found.pid)
  return found
}

/** The app's stderr as pm2 logged it. */
const errorLog = (p: Pm2Proc | undefined): string => {
  const file = p?.pm2_env.pm_err_log_path
  return file && existsSync(file) ? readFileSync(file, 'utf8') : ''
}

/**
 * The pids whose environment mentions `text` (here: an app's config file, in OUTRIGGER_CONFIG):
 * the supervisor and its workers (pm2 runs the app's script through a container of its own).
 */
function processesWith(text: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').includes(text)) pids.push(Number(entry))
    } catch {
      /* gone meanwhile */
    }
  }
  return pids
}

/** A folder of its own for one app: plugins, state and the host config. */
async function appFolder(name: string, config: object, plugins: Record<string, { manifest: object; code: string }> = {}): Promise<string> {
  const dir = path.join(tmp, name)
  await mkdir(path.join(dir, 'plugins'), { recursive: true })
  await writeFile(path.join(dir, 'plugins', 'package.json'), '{"type":"module"}\n')
  for (const [p, { manifest, code }] of Object.entries(plugins)) {
    await mkdir(path.join(dir, 'plugins', p))
    await writeFile(path.join(dir, 'plugins', p, 'manifest.json'), JSON.stringify(manifest))
    await writeFile(path.join(dir, 'plugins', p, 'index.js'), code)
  }
  const file = path.join(dir, 'outrigger.config.json')
  await writeFile(file, JSON.stringify({ pluginsDir: 'plugins', stateDir: 'state', ...config }))
  return file
}

/**
 * Starts the app from ecosystem.config.js with this config and waits until pm2 has seen it crash
 * and restarted it twice: each start failed, and each process exited rather than stay up.
 */
async function assertCrashLoops(name: string, configFile: string, expected: RegExp): Promise<void> {
  // Each app its own runtime folder and its own pm2 daemon: a daemon reused after `pm2 delete` of an app in crash back-off has
  // been seen to start that app again, under the next app's id.
  const home = path.join(path.dirname(configFile), 'pm2')
  await mkdir(home)
  homes.push(home)
  const env = { ...baseEnv, PM2_HOME: home, OUTRIGGER_PM2_NAME: name, OUTRIGGER_CONFIG: configFile, OUTRIGGER_RUNTIME_DIR: path.join(path.dirname(configFile), 'run') }
  // The daemon first: the command that spawns it prints more than its own answer.
  await writeFile(path.join(home, 'touch'), String(Date.now()))
  assert.equal((await pm2(['ping'], { ...baseEnv, PM2_HOME: home })).code, 0)
  const firstPids = new Set<number>()
  let started: { code: number; stdout: string; stderr: string } | undefined
  const start = pm2(['start', path.join(ROOT, 'ecosystem.config.js')], env).then((r) => (started = r))
  let last: Pm2Proc | undefined
  try {
    await until(
      `pm2 to restart "${name}" after its failed start`,
      async () => {
        last = await proc(name, env)
        if (last?.pid) firstPids.add(last.pid)
        return (last?.pm2_env.restart_time ?? 0) >= 2
      },
      30_000,
    )
  } catch (err) {
    assert.fail(`${(err as Error).message}; pm2 start said ${JSON.stringify(started ?? 'nothing yet')}; pm2 shows ${JSON.stringify(last?.pm2_env ? { status: last.pm2_env.status, restarts: last.pm2_env.restart_time, pid: last.pid } : null)}; error log:\n${errorLog(last)}`)
  }
  assert.notEqual(last!.pm2_env.status, 'online', 'a supervisor that failed to start is not online')
  assert.equal(last!.pm2_env.exit_code, 1, 'the failed start exited with 1')
  assert.match(errorLog(last), expected)
  await start
  await pm2(['delete', name], env)
  for (const pid of firstPids) await until(`pid ${pid} to be gone`, () => !alive(pid))
  await until(`no process of "${name}" left`, () => processesWith(configFile).length === 0)
}

describe('a start that fails exits, under pm2', () => {
  before(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'rig-pm2f-'))
    baseEnv = { ...process.env, PM2_DISABLE_VERSION_CHECK: '1', OUTRIGGER_RUNTIME_DIR: path.join(tmp, 'run'), NO_COLOR: '1', FORCE_COLOR: '0' }
    delete baseEnv.pm_id
    delete baseEnv.PM2_HOME
  })

  after(async () => {
    for (const home of homes) {
      const pidFile = path.join(home, 'pm2.pid')
      const daemon = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0
      await pm2(['kill'], { ...baseEnv, PM2_HOME: home })
      if (daemon && alive(daemon)) process.kill(daemon, 'SIGKILL')
    }
    for (const pid of seenPids) if (alive(pid)) process.kill(pid, 'SIGKILL')
    if (tmp) await rm(tmp, { recursive: true, force: true })
  })

  it('a typo in the host config ("htpp") crashes the app, and pm2 restarts it', async () => {
    const config = await appFolder('rig-typo', { htpp: { port: 0 } })
    await assertCrashLoops('rig-typo', config, /RIG_ERR_CONFIG_INVALID: .*outrigger\.config\.json: \(root\): unknown field\(s\) "htpp"/)
  })

  for (const isolation of (process.env.ISOLATION ? [process.env.ISOLATION] : ['thread', 'process']) as Array<'thread' | 'process'>) {
    it(`a taken HTTP port, found after ${isolation} workers started, crashes the app too`, async () => {
      // Somebody else's listener on the port the config asks for.
      const squatter = net.createServer()
      await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve))
      const port = (squatter.address() as net.AddressInfo).port
      try {
        const name = `rig-port-${isolation}`
        const config = await appFolder(name, { http: { port } }, {
          ticker: {
            manifest: { name: 'ticker', version: '1.0.0', type: 'worker', worker: { isolation, instances: 2 } },
            // A worker that holds a timer of its own, as plugins do.
            code: 'setInterval(() => {}, 1000)\nexport default { hooks: { "tick:on"() {} } }\n',
          },
        })
        await assertCrashLoops(name, config, /EADDRINUSE|already in use|in use/)
      } finally {
        squatter.close()
      }
    })
  }
})
