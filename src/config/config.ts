import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { z } from 'zod'
import { OutriggerError } from '../errors.js'
import { describeIssues } from '../manifest/load.js'
import { timerMs } from '../manifest/schema.js'
import { ClusterConfigSchema, withoutSecrets } from './cluster-config.js'

/**
 * The host config, `outrigger.config.json`. Every field is optional; `.describe()` texts are the
 * documentation (and show up in the generated JSON Schema).
 */
export const HostConfigSchema = z
  .object({
    $schema: z.string().optional(),
    pluginsDir: z.string().default('plugins/enabled').describe('Folder of enabled plugins (folders or symlinks), relative to the config file'),
    stateDir: z.string().default('.outrigger/state').describe('Folder of the embedded state store and plugin data folders, relative to the config file'),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info').describe('Level of the default pino logger'),
    timeouts: z
      .object({
        initMs: timerMs().positive().default(10000).describe('Per-plugin limit for init'),
        whenReadyMs: timerMs().positive().default(10000).describe('Per-plugin limit for whenReady'),
        closeMs: timerMs().positive().default(5000).describe('Per-plugin limit for close'),
        pipeWarnMs: timerMs().positive().default(1000).describe('A pipe listener slower than this logs a warning, once while it is still pending and again when it returns'),
        callMs: timerMs().positive().default(30000).describe("A core plugin's function (sup.call) still pending after this long rejects with RIG_ERR_CALL_TIMEOUT (the function is not cancelled)"),
        pipeTimeoutMs: timerMs().positive().default(30000).describe('A pipe listener still pending after this long fails its chain with RIG_ERR_PIPE_TIMEOUT (the listener is not cancelled)'),
        drainMs: timerMs().positive().default(10000).describe('How long stop() lets worker queues drain before escalating'),
      })
      .strict()
      .prefault({})
      .describe('Lifecycle and shutdown limits'),
    journal: z
      .object({
        commitMs: z.number().int().min(0).max(2 ** 31 - 1).default(5).describe('Group-commit window of durable journals: an event emitted to a durable plugin is committed within this many ms (0: at the end of the event-loop turn)'),
      })
      .strict()
      .prefault({})
      .describe('The journals of durable worker plugins (<stateDir>/journal/<plugin>)'),
    coordination: z
      .object({
        snapshotEvery: z.number().int().min(1).max(2 ** 31 - 1).default(1000).describe('The coordination log writes a replica snapshot every this many entries; a restart replays only the entries after the last one'),
      })
      .strict()
      .prefault({})
      .describe('The coordination log (<stateDir>/coordination)'),
    workerNice: z
      .number()
      .int()
      .min(0)
      .max(19)
      .default(10)
      .describe("How many nice steps below the host's own priority worker instances run their plugin's thread, so the host's event loop gets the CPU first when workers take every core; 0 runs them on equal terms"),
    hostErrors: z
      .enum(['isolate', 'exit'])
      .default('isolate')
      .describe(
        'What the host does with an uncaught exception or unhandled rejection (under `outrigger start`, or startSupervisor({ handleProcessErrors: true })): "isolate" fails the core plugin whose code started the failing work and keeps running, and stops gracefully then exits 1 when no plugin can be blamed; "exit" always stops gracefully then exits 1',
      ),
    maxConcurrentPipes: z.number().int().positive().default(10000).describe('Pipe chains allowed to run at once; more fail fast with RIG_ERR_PIPE_BUSY'),
    http: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(7411),
        maxBodyBytes: z.number().int().positive().default(1048576),
        requestTimeoutMs: timerMs().positive().default(10000),
        actionTimeoutMs: timerMs().positive().default(30000).describe('A controller action, with its pipes, must answer within this long (on every entry point: HTTP, ctx.execute, protocol plugins); then 504 RIG_ERR_ACTION_TIMEOUT and request.signal aborts'),
        token: z.string().min(1).optional().describe('A static bearer token the default auth slot requires when set'),
      })
      .strict()
      .prefault({})
      .describe('The HTTP API of the standalone host'),
    plugins: z
      .record(
        z.string(),
        z
          .object({
            options: z.unknown().optional().describe("Checked against the plugin's own options schema before init"),
            worker: z.record(z.string(), z.unknown()).optional().describe("Overrides of the manifest's worker section"),
            timeouts: z
              .object({
                initMs: timerMs().positive().optional(),
                whenReadyMs: timerMs().positive().optional(),
                closeMs: timerMs().positive().optional(),
                callMs: timerMs().positive().optional(),
              })
              .strict()
              .optional()
              .describe("This plugin's own lifecycle and function-call limits, over the top-level `timeouts` (whenReadyMs also applies to worker plugins; their init and close limits are `worker.limits`)"),
          })
          .strict(),
      )
      .default({})
      .describe('Per-plugin options and worker overrides, by plugin name'),
    cluster: ClusterConfigSchema.optional().describe('Cluster mode on Redis Streams (docs/cluster.md): worker plugins with `worker.placement: "cluster"` share their events with every supervisor of the cluster'),
  })
  .strict()

export type HostConfig = z.output<typeof HostConfigSchema>
/** The config as written: every field optional. */
export type HostConfigInput = z.input<typeof HostConfigSchema>

/** Validates a config object; `source` names where it came from in the error. */
export function parseConfig(raw: unknown, source = 'config'): HostConfig {
  const parsed = HostConfigSchema.safeParse(raw ?? {})
  if (!parsed.success) {
    throw new OutriggerError('RIG_ERR_CONFIG_INVALID', `${source}: ${describeIssues(parsed.error, withoutSecrets(raw)).join('; ')}`, { details: { source } })
  }
  return parsed.data
}

/** Reads `outrigger.config.json`; relative folders in it are resolved against its own folder. */
export async function loadConfig(file: string): Promise<{ config: HostConfig; baseDir: string }> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new OutriggerError('RIG_ERR_CONFIG_INVALID', `${file}: cannot read the config (${(err as Error).message}); pass --config with an existing file`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new OutriggerError('RIG_ERR_CONFIG_INVALID', `${file}: not valid JSON: ${(err as Error).message}`)
  }
  return { config: parseConfig(raw, file), baseDir: path.dirname(path.resolve(file)) }
}

export interface PluginTimeouts {
  initMs: number
  whenReadyMs: number
  closeMs: number
  callMs: number
}

/** One plugin's limits: its own `plugins.<name>.timeouts` where set, else the host's `timeouts`. */
export function timeoutsFor(config: HostConfig, plugin: string): PluginTimeouts {
  const t = config.timeouts
  const own = config.plugins[plugin]?.timeouts ?? {}
  return { initMs: own.initMs ?? t.initMs, whenReadyMs: own.whenReadyMs ?? t.whenReadyMs, closeMs: own.closeMs ?? t.closeMs, callMs: own.callMs ?? t.callMs }
}
