import semver from 'semver'
import { z } from 'zod'
import { PermissionsSchema, THREAD_PERMISSIONS } from './permissions.js'

/** The plugin manifest, exactly as DESIGN.md §2 (Contract). Every default lives here. */
export const PLUGIN_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/

const positiveInt = z.number().int().positive()

/**
 * The longest delay a Node timer keeps: a larger one (or a non-number) is run after 1 ms, so a
 * "limit" of 1e10 ms would fire at once. Every millisecond field, here and in the host config,
 * is capped at it.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1
/** A millisecond field: a whole number no larger than MAX_TIMER_MS. */
export const timerMs = () =>
  z.number().int().max(MAX_TIMER_MS, `at most ${MAX_TIMER_MS} ms (2^31-1, about 24.8 days): Node fires a longer timer after 1 ms; use a smaller value`)
const ms = timerMs().nonnegative()
const positiveMs = timerMs().positive()

/** Redelivery after a hook failed (not after a crash): the wait doubles from `initial` up to `max`. */
export const RetrySchema = z
  .object({
    backoffMs: z
      .object({ initial: ms.default(10), max: ms.default(1000) })
      .strict()
      .refine((b) => b.initial <= b.max, { message: 'initial must not exceed max', path: ['initial'] })
      .prefault({}),
  })
  .strict()

export const RestartSchema = z
  .object({
    policy: z.enum(['permanent', 'transient', 'temporary']).default('permanent'),
    maxRestarts: z.number().int().nonnegative().default(5),
    windowMs: positiveMs.default(60000),
    backoffMs: z
      .object({ initial: ms.default(100), max: ms.default(10000) })
      .strict()
      .prefault({}),
  })
  .strict()

export const LimitsSchema = z
  .object({
    memoryMb: positiveInt.default(512),
    startTimeoutMs: positiveMs.default(10000),
    stopTimeoutMs: positiveMs.default(5000),
    unresponsiveMs: positiveMs.default(3000),
    handlerTimeoutMs: positiveMs.default(30000),
  })
  .strict()

export const WorkerSchema = z
  .object({
    isolation: z.enum(['thread', 'process']).default('thread'),
    instances: z.number().int().min(1).max(64).default(1),
    delivery: z.enum(['at-most-once', 'at-least-once', 'durable']).default('at-most-once'),
    maxAttempts: z.number().int().min(1).default(3),
    retry: RetrySchema.prefault({}),
    partitionBy: z
      .string()
      .regex(/^[A-Za-z0-9_$]+(\.[A-Za-z0-9_$]+)*$/, 'a dotted path such as "order.customerId"')
      .nullable()
      .default(null),
    queue: z
      .object({
        max: positiveInt.default(10000),
        overflow: z.enum(['drop-oldest', 'drop-newest', 'reject']).default('drop-oldest'),
      })
      .strict()
      .prefault({}),
    restart: RestartSchema.prefault({}),
    limits: LimitsSchema.prefault({}),
    permissions: PermissionsSchema.optional(),
    placement: z.enum(['local', 'cluster']).default('local'),
  })
  .strict()
  .superRefine((w, ctx) => {
    if (w.permissions && w.isolation === 'thread') ctx.addIssue({ code: 'custom', path: ['permissions'], message: THREAD_PERMISSIONS })
  })

export const ManifestSchema = z
  .object({
    $schema: z.string().optional(),
    name: z.string().regex(PLUGIN_NAME, 'lowercase letters, digits, "-" or "_", starting with a letter or digit, at most 64'),
    version: z.string().refine((v) => semver.valid(v) !== null, 'a semver version such as "1.2.0"'),
    type: z.enum(['core', 'worker']),
    main: z.string().min(1).default('index.js'),
    engine: z
      .string()
      .refine((r) => semver.validRange(r) !== null, 'a semver range such as ">=0.1.0"')
      .optional(),
    description: z.string().optional(),
    /** Core plugins: `close` leaves nothing behind, so a live reload may close it and import it afresh. */
    reloadable: z.boolean().default(false),
    worker: WorkerSchema.optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.type === 'core' && m.worker !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['worker'], message: 'a "worker" section is only allowed with "type": "worker"' })
    }
    // The plugin's stream is a cluster plugin's durable store; a local journal beside it would be a second one.
    if (m.worker?.placement === 'cluster' && m.worker.delivery === 'durable') {
      ctx.addIssue({ code: 'custom', path: ['worker', 'delivery'], message: '"durable" is for local plugins: a "placement": "cluster" plugin is kept in its Redis stream and delivered at-least-once; remove "delivery"' })
    }
  })
  // A worker plugin always carries a complete worker section, so later code never checks for it.
  .transform((m) => (m.type === 'worker' ? { ...m, worker: m.worker ?? WorkerSchema.parse({}) } : m))

export type Manifest = z.output<typeof ManifestSchema>
export type WorkerSettings = z.output<typeof WorkerSchema>
export type ManifestInput = z.input<typeof ManifestSchema>
