/**
 * The evidence of an instance's trouble (docs/diagnostics.md): a CPU profile of an unresponsive
 * instance before it is killed, profiles on demand, and the heap snapshot an instance writes
 * near its memory limit. The files live under the state folder; the newest of each is named in
 * the instance's row of the status report, and a hang's profile in its `lastError` and log line.
 */
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { errorMessage, OutriggerError } from '../errors.js'
import {
  diagnosticFile, HEAP_SNAPSHOTS_DIR, HEAP_SNAPSHOTS_KEPT, prune, PROFILES_DIR, PROFILES_KEPT,
} from '../diagnostics/diagnostic-files.js'
import type { HeapSnapshotMsg, ProfileWritten, WorkerInstance } from '../hosts/worker-host.js'
import type { WorkerSettings } from '../manifest/schema.js'
import type { PluginLogger } from '../plugin/types.js'
import type { InstanceLife } from './instance-life.js'

/** Beyond the profile's own length: the inspector's round trips and the file write, on a loaded host. */
const PROFILE_GRACE_MS = 5000
/** How long an instance writing its heap snapshot may leave heartbeats unanswered. */
const SNAPSHOT_GRACE_MS = 120_000

export interface InstanceDiagnosticsOptions {
  plugin: string
  cfg: WorkerSettings
  log: PluginLogger
  stateDir: string
  /** The instance set's records, by instance id (for `onDemand`). */
  lives: InstanceLife[]
  noteError(error: unknown): void
}

/** What `outrigger profile` prints. */
export interface ProfileReport extends ProfileWritten {
  plugin: string
  instance: number
  ms: number
}

export class InstanceDiagnostics {
  constructor(private readonly opts: InstanceDiagnosticsOptions) {}

  /** An on-demand profile's default length: `limits.profileMs`, or 2 s when hangs are not profiled. */
  get defaultProfileMs(): number {
    return this.opts.cfg.limits.profileMs || 2000
  }

  /** Where heap snapshots go when `limits.heapSnapshot` is on. */
  get heapSnapshotDir(): string {
    return path.join(this.opts.stateDir, HEAP_SNAPSHOTS_DIR)
  }

  /**
   * An instance that stopped answering (not while it writes its heap snapshot): it is profiled (at most `limits.profileMs`, bounded again
   * here), the file is named in `lastError` and the log, then the instance is killed. Heartbeats
   * stop at once: the verdict is in, and the profile must not be taken twice.
   */
  async hung(l: InstanceLife, instance: WorkerInstance, why: string): Promise<void> {
    l.unwatch?.()
    l.state = 'unresponsive'
    const { plugin } = this.opts
    const base = `plugin "${plugin}" instance ${l.id}: ${why}; terminating it`
    this.opts.noteError(new OutriggerError('RIG_ERR_WORKER_UNRESPONSIVE', base))
    const { profileMs } = this.opts.cfg.limits
    let written: ProfileWritten | undefined
    let skipped = 'limits.profileMs is 0'
    if (profileMs > 0) {
      try {
        written = await this.record(l, instance, profileMs)
      } catch (err) {
        skipped = errorMessage(err)
      }
    }
    const message = written ? `${base}; CPU profile: ${written.file}` : `${base}; no CPU profile: ${skipped}`
    l.lastError = { code: 'RIG_ERR_WORKER_UNRESPONSIVE', message, profile: written?.file ?? null }
    this.opts.log.warn({ plugin, instance: l.id, profile: written?.file ?? null, stack: written?.stack, ...(written ? {} : { profileSkipped: skipped }) }, message)
    // Still the one that hung (not ended meanwhile, nor halted by a stop): its exit reads this.
    if (l.instance === instance) this.opts.noteError(new OutriggerError('RIG_ERR_WORKER_UNRESPONSIVE', message, { details: { profile: written?.file ?? null } }))
    void instance.kill()
  }

  /** `outrigger profile`: a profile of instance `id` (default: the first running one), which goes on running. */
  async onDemand(id: number | undefined, ms: number): Promise<ProfileReport> {
    const lives = this.opts.lives
    const l = id === undefined ? (lives.find((x) => x.state === 'running') ?? lives[0]) : lives[id]
    if (!l) throw new OutriggerError('RIG_ERR_PROFILE_UNAVAILABLE', `plugin "${this.opts.plugin}" has no instance ${id}: its instance ids are 0 to ${lives.length - 1}`)
    const instance = l.instance
    if (!instance || l.state !== 'running') {
      throw new OutriggerError('RIG_ERR_PROFILE_UNAVAILABLE', `plugin "${this.opts.plugin}" instance ${l.id} is ${l.state}, not running: profile a running one (\`outrigger status\` lists them)`)
    }
    const written = await this.record(l, instance, ms)
    this.opts.log.info({ plugin: this.opts.plugin, instance: l.id, profile: written.file }, `plugin "${this.opts.plugin}" instance ${l.id}: CPU profile of ${ms} ms written to ${written.file}`)
    return { plugin: this.opts.plugin, instance: l.id, ms, ...written }
  }

  /** Whether the instance is writing its heap snapshot, which leaves heartbeats unanswered for a while. */
  snapshotting(l: InstanceLife): boolean {
    return l.snapshotUntil !== undefined && Date.now() < l.snapshotUntil
  }

  heapSnapshot(l: InstanceLife, msg: HeapSnapshotMsg): void {
    const { plugin, cfg, log } = this.opts
    const at = `plugin "${plugin}" instance ${l.id} at ${Math.round(msg.memory.memoryMb)} MB (limits.memoryMb ${cfg.limits.memoryMb})`
    if (msg.phase === 'writing') {
      l.snapshotUntil = Date.now() + SNAPSHOT_GRACE_MS
      return
    }
    l.snapshotUntil = undefined
    if (msg.phase === 'failed') return log.error({ plugin, instance: l.id, heapSnapshot: null }, `${at}: could not write its heap snapshot ${msg.file}: ${msg.error}`)
    l.heapSnapshot = msg.file
    log.warn({ plugin, instance: l.id, heapSnapshot: msg.file }, `${at}: heap snapshot written to ${msg.file}`)
    void prune(this.heapSnapshotDir, plugin, '.heapsnapshot', HEAP_SNAPSHOTS_KEPT)
  }

  /** One profile into `<stateDir>/profiles`, bounded, keeping the newest PROFILES_KEPT of the plugin. */
  private async record(l: InstanceLife, instance: WorkerInstance, ms: number): Promise<ProfileWritten> {
    const { plugin, stateDir } = this.opts
    const dir = path.join(stateDir, PROFILES_DIR)
    await mkdir(dir, { recursive: true }).catch((err: unknown) => {
      throw new OutriggerError('RIG_ERR_PROFILE_FAILED', `plugin "${plugin}" instance ${l.id}: cannot create the profiles folder ${dir}: ${errorMessage(err)}`)
    })
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new OutriggerError('RIG_ERR_PROFILE_FAILED', `plugin "${plugin}" instance ${l.id}: the CPU profile did not finish within ${ms + PROFILE_GRACE_MS} ms`)), ms + PROFILE_GRACE_MS)
    })
    try {
      const written = await Promise.race([instance.profile(ms, diagnosticFile(dir, plugin, l.id, '.cpuprofile')), deadline])
      l.profile = written.file
      await prune(dir, plugin, '.cpuprofile', PROFILES_KEPT)
      return written
    } finally {
      clearTimeout(timer)
    }
  }
}
