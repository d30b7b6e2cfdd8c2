/**
 * Outrigger under a real pm2 daemon (its own PM2_HOME in a temp folder), started from the real
 * ecosystem.config.js: `online` only after `ready`, the control socket, @pm2/io metrics and
 * actions, and no lost at-least-once event and no surviving worker across `pm2 reload` and
 * `pm2 stop`. The daemon is killed at the end whatever happened.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { request } from '../src/control/client.js'
import type { StatusReport } from '../src/supervisor/status-types.js'
import type { DeadLetter } from '../src/supervisor/types.js'
import { ROOT, rig } from './helpers/cli-run.js'
import { alive, until } from './helpers/wait.js'

const PM2 = path.join(ROOT, 'node_modules', '.bin', 'pm2')
// Not the default name: the pm2 name must also name the supervisor and its control socket.
const APP = 'rig-under-pm2'
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'pm2')

interface Pm2Proc {
  name: string
  pid: number
  pm2_env: { status: string; axm_monitor?: Record<string, { value: unknown; unit?: string }>; axm_actions?: Array<{ action_name: string }> }
}

let tmp = ''
let env: NodeJS.ProcessEnv = {}
let runtimeDir = ''
let processedFile = ''
/** Every pid we saw, so that `after` can make sure none is left whatever happened. */
const seenPids = new Set<number>()

function pm2(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(PM2, args, { cwd: ROOT, env, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })
    })
  })
}

async function app(): Promise<Pm2Proc | undefined> {
  const r = await pm2('jlist')
  const list = JSON.parse(r.stdout.slice(r.stdout.indexOf('['))) as Pm2Proc[]
  const found = list.find((p) => p.name === APP)
  if (found?.pid) seenPids.add(found.pid)
  return found
}

async function status(): Promise<StatusReport> {
  const r = await rig(['--app', APP, 'status', '--json'], { runtimeDir, env })
  assert.equal(r.code, 0, r.stderr)
  const report = JSON.parse(r.stdout) as StatusReport
  for (const pid of workerPids(report)) seenPids.add(pid)
  return report
}

function workerPids(report: StatusReport): number[] {
  return report.plugins.flatMap((p) => p.instances.map((i) => i.pid)).filter((pid) => pid > 0)
}


/** The JSON reply `pm2 trigger` prints as `[name:id:namespace]=<json>`. */
async function trigger(action: string, param?: string): Promise<any> {
  const r = await pm2('trigger', APP, action, ...(param ? [param] : []))
  assert.equal(r.code, 0, r.stdout + r.stderr)
  const line = r.stdout.split('\n').find((l) => l.includes(`[${APP}:`))
  assert.ok(line, r.stdout)
  return JSON.parse(line.slice(line.indexOf(']=') + 2))
}

const logs = (kind: 'out' | 'error'): string => {
  const file = path.join(env.PM2_HOME!, 'logs', `${APP}-${kind}-0.log`)
  return existsSync(file) ? readFileSync(file, 'utf8') : ''
}
const daemonLog = (): string => readFileSync(path.join(env.PM2_HOME!, 'pm2.log'), 'utf8')

/** Emits `job:run` over the control socket in a loop, remembering which emits were accepted. */
function emitter(prefix: string, ms: number) {
  const accepted: string[] = []
  let refused = 0
  let n = 0
  let stop = false
  const done = (async () => {
    while (!stop) {
      const id = `${prefix}${n++}`
      try {
        await request({ app: APP, runtimeDir }, 'emit', { event: 'job:run', payload: { id, ms } }, 2000)
        accepted.push(id)
      } catch {
        // Unreachable or RIG_ERR_CLOSED: the sender knows this one was not taken.
        refused++
        await new Promise((r) => setTimeout(r, 20))
      }
    }
  })()
  return {
    accepted,
    refused: () => refused,
    async stop(): Promise<void> {
      stop = true
      await done
    },
  }
}

async function deadLetterIds(): Promise<string[]> {
  const r = await rig(['--app', APP, 'dead-letters', 'list', 'recorder', '--json'], { runtimeDir, env })
  assert.equal(r.code, 0, r.stderr)
  return (JSON.parse(r.stdout) as DeadLetter[]).map((d) => (d.payload as { id: string }).id)
}

/** Every accepted id ends up processed (possibly twice: at-least-once) or in dead letters. */
async function assertNoneLost(accepted: string[]): Promise<{ deadLettered: number }> {
  let missing: string[] = accepted
  let deadLettered = 0
  await until(
    `all ${accepted.length} accepted events processed or dead-lettered`,
    async () => {
      const dead = await deadLetterIds()
      deadLettered = accepted.filter((id) => dead.includes(id)).length
      const done = new Set([...readFileSync(processedFile, 'utf8').split('\n'), ...dead])
      missing = accepted.filter((id) => !done.has(id))
      return missing.length === 0
    },
    30_000,
  ).catch((err) => assert.fail(`${err.message}; missing: ${missing.slice(0, 20).join(', ')}`))
  return { deadLettered }
}

describe('outrigger under pm2', () => {
  before(async () => {
    // Short: pm2's and our unix sockets live under it.
    tmp = await mkdtemp(path.join(tmpdir(), 'rig-pm2-'))
    runtimeDir = path.join(tmp, 'run')
    processedFile = path.join(tmp, 'processed.log')
    await writeFile(processedFile, '')
    await cp(FIXTURES, path.join(tmp, 'plugins'), { recursive: true })
    await writeFile(path.join(tmp, 'plugins', 'package.json'), '{"type":"module"}\n')
    const config = {
      pluginsDir: 'plugins',
      stateDir: 'state',
      http: { port: 0 },
      timeouts: { drainMs: 5000 },
      plugins: { recorder: { options: { file: processedFile } }, tally: { options: { initDelayMs: 1500 } } },
    }
    await writeFile(path.join(tmp, 'outrigger.config.json'), JSON.stringify(config))
    const home = path.join(tmp, 'pm2')
    await mkdir(home)
    // pm2 prints a banner and checks for updates on its first run in a PM2_HOME, unless it finds this.
    await writeFile(path.join(home, 'touch'), String(Date.now()))
    env = { ...process.env, PM2_HOME: home, PM2_DISABLE_VERSION_CHECK: '1', OUTRIGGER_PM2_NAME: APP, OUTRIGGER_CONFIG: path.join(tmp, 'outrigger.config.json'), OUTRIGGER_RUNTIME_DIR: runtimeDir, NO_COLOR: '1', FORCE_COLOR: '0' }
    // Not inherited if the tests themselves run under pm2.
    delete env.pm_id
    // Starts the daemon alone, so that the polling below cannot race a second one into being.
    assert.equal((await pm2('ping')).code, 0)
  })

  after(async () => {
    if (env.PM2_HOME) {
      const pidFile = path.join(env.PM2_HOME, 'pm2.pid')
      const daemon = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0
      await pm2('kill')
      // Fallbacks, in case `pm2 kill` failed: the daemon, then anything of ours still running.
      if (daemon && alive(daemon)) process.kill(daemon, 'SIGKILL')
      for (const pid of seenPids) if (alive(pid)) process.kill(pid, 'SIGKILL')
    }
    if (tmp) await rm(tmp, { recursive: true, force: true })
  })

  it('starts from ecosystem.config.js and is online only once the supervisor runs and sent ready', async () => {
    const startedAt = Date.now()
    let startDoneAt = 0
    const start = pm2('start', path.join(ROOT, 'ecosystem.config.js')).then((r) => {
      startDoneAt = Date.now()
      return r
    })
    const seen: Array<{ status: string; at: number; actions: string[] }> = []
    await until(
      'pm2 to show the app online',
      async () => {
        const a = await app()
        if (a) seen.push({ status: a.pm2_env.status, at: Date.now(), actions: (a.pm2_env.axm_actions ?? []).map((x) => x.action_name) })
        return a?.pm2_env.status === 'online'
      },
      30_000,
    )
    const r = await start
    assert.equal(r.code, 0, r.stdout + r.stderr)

    const running = logs('out').split('\n').map((l) => l.slice(l.indexOf('{'))).find((l) => l.includes(`"msg":"${APP} running"`))
    assert.ok(running, `the supervisor logged that it runs:\n${logs('out')}`)
    const runningAt = (JSON.parse(running) as { time: number }).time
    assert.ok(runningAt >= startedAt)
    // The slow plugin init holds the app in `launching`; pm2 answered `online` only after.
    assert.ok(seen.some((s) => s.status === 'launching'), JSON.stringify(seen))
    for (const s of seen.filter((x) => x.status === 'online')) {
      assert.ok(s.at >= runningAt, `online seen at ${s.at}, before the supervisor ran at ${runningAt}`)
      // `ready` is sent last: once online, the actions are already registered.
      assert.ok(s.actions.includes('status') && s.actions.includes('restart-plugin'), s.actions.join(','))
    }
    assert.ok(startDoneAt >= runningAt, '`pm2 start` returned only after ready')
  })

  it('answers `outrigger status --json` over the control socket', async () => {
    const report = await status()
    const a = await app()
    assert.equal(report.state, 'running')
    assert.equal(report.pid, a!.pid)
    const recorder = report.plugins.find((p) => p.name === 'recorder')
    assert.equal(recorder?.isolation, 'process')
    assert.equal(recorder?.instances.length, 2)
    assert.equal(report.plugins.find((p) => p.name === 'tally')?.state, 'running')
  })

  it('publishes per-plugin metrics and the event-loop p99 through @pm2/io', async () => {
    for (let i = 0; i < 40; i++) await request({ app: APP, runtimeDir }, 'emit', { event: 'job:run', payload: { id: `m${i}`, ms: 25 } })
    let monitor: NonNullable<Pm2Proc['pm2_env']['axm_monitor']> = {}
    await until(
      'a non-zero recorder events/s in axm_monitor',
      async () => {
        monitor = (await app())?.pm2_env.axm_monitor ?? {}
        return Number(monitor['recorder events/s']?.value) > 0
      },
      15_000,
    )
    assert.equal(monitor['recorder state']?.value, 'running')
    assert.equal(monitor['tally state']?.value, 'running')
    for (const name of ['recorder queue', 'recorder failed', 'recorder restarts', 'recorder memory', 'tally events/s']) {
      assert.equal(typeof monitor[name]?.value, 'number', name)
    }
    assert.equal(monitor['event loop p99']?.unit, 'ms')
    assert.equal(typeof monitor['event loop p99']?.value, 'number')
    await assertNoneLost(Array.from({ length: 40 }, (_, i) => `m${i}`))
  })

  it('runs the status and restart-plugin actions through `pm2 trigger`', async () => {
    const reply = (await trigger('status')) as StatusReport
    assert.equal(reply.app, APP)
    assert.equal(reply.state, 'running')

    const before = workerPids(await status())
    assert.deepEqual(await trigger('restart-plugin', 'recorder'), { ok: true, plugin: 'recorder', state: 'running' })
    const after = workerPids(await status())
    assert.equal(after.length, 2)
    for (const pid of after) assert.ok(!before.includes(pid), 'new worker processes')
    for (const pid of before) assert.ok(!alive(pid), `old worker ${pid} has exited`)

    const refused = await trigger('restart-plugin', 'nope')
    assert.equal(refused.ok, false)
    assert.equal(refused.error.code, 'RIG_ERR_UNKNOWN_PLUGIN')
  })

  it('loses no at-least-once event across `pm2 reload`, and leaves no worker behind', async (t) => {
    const old = await status()
    const oldPids = [old.pid, ...workerPids(old)]
    const load = emitter('r', 10)
    await until('events accepted before the reload', () => load.accepted.length >= 30)
    const r = await pm2('reload', APP)
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const acceptedBefore = load.accepted.length
    await until('events accepted by the new supervisor', () => load.accepted.length >= acceptedBefore + 30, 20_000)
    await load.stop()

    const now = await status()
    assert.notEqual(now.pid, old.pid)
    // pm2 waits for every pid of the old tree before it starts the new one; none needed SIGKILL.
    for (const pid of oldPids) assert.ok(!alive(pid), `pid ${pid} of the old tree has exited`)
    assert.doesNotMatch(daemonLog(), /still alive after/)
    const { deadLettered } = await assertNoneLost(load.accepted)
    t.diagnostic(`accepted ${load.accepted.length}, refused ${load.refused()}, dead-lettered ${deadLettered}`)
  })

  it('drains on `pm2 stop`: no accepted event lost, no worker outlives the app', async (t) => {
    const old = await status()
    const pids = [old.pid, ...workerPids(old)]
    const load = emitter('s', 30)
    // A backlog of about a second for the two instances, so the stop finds work queued and in flight.
    await until('a backlog before the stop', () => load.accepted.length >= 80, 20_000)
    const r = await pm2('stop', APP)
    assert.equal(r.code, 0, r.stdout + r.stderr)
    await load.stop()

    assert.equal((await app())?.pm2_env.status, 'stopped')
    for (const pid of pids) assert.ok(!alive(pid), `pid ${pid} has exited`)
    assert.doesNotMatch(daemonLog(), /still alive after/)
    assert.ok(logs('out').includes(`"msg":"${APP} stopped"`), 'the supervisor logged that it stopped')

    // Dead letters are read from the next supervisor (they are kept in the durable store).
    assert.equal((await pm2('start', APP)).code, 0)
    await until('the app back online', async () => (await app())?.pm2_env.status === 'online', 30_000)
    const { deadLettered } = await assertNoneLost(load.accepted)
    t.diagnostic(`accepted ${load.accepted.length}, refused ${load.refused()}, dead-lettered ${deadLettered}`)
  })
})
