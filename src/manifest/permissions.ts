import { z } from 'zod'

/**
 * `worker.permissions`: what a process-isolated worker plugin may do under Node's permission
 * model. Unset, the child runs unconfined; set (even `{}`), it runs under `--permission` and may
 * read only its own folder, its data folder and the runtime's files, and write only its data
 * folder, plus what is listed here. The flags it becomes are built in `hosts/permission-flags.ts`.
 */
const paths = (what: string, always: string) =>
  z
    .array(z.string().min(1, 'an empty path; write "." for the plugin folder itself'))
    .default([])
    .describe(`${what}, relative to the plugin folder (absolute paths stay as they are; "*" is everything); ${always}`)

export const PermissionsSchema = z
  .object({
    fs: z
      .object({
        read: paths('More paths the plugin may read (`--allow-fs-read`)', 'its folder, its data folder and the runtime are always readable'),
        write: paths('More paths the plugin may write (`--allow-fs-write`)', 'its data folder is always writable'),
      })
      .strict()
      .prefault({}),
    childProcess: z.boolean().default(false).describe('May start child processes (`--allow-child-process`)'),
    workerThreads: z
      .boolean()
      .default(false)
      .describe('May start worker threads (`--allow-worker`); on Node 24 a thread is not bound by the model, so this lifts the confinement (see `permissions.md`)'),
    addons: z.boolean().default(false).describe('May load native addons (`--allow-addons`)'),
    wasi: z.boolean().default(false).describe('May use WASI (`--allow-wasi`)'),
  })
  .strict()
  .describe('Process isolation only: run the child under Node\'s permission model (`--permission`); see `permissions.md`')

export type Permissions = z.output<typeof PermissionsSchema>

/** Why `permissions` is refused beside thread isolation, in the manifest or a config override. */
export const THREAD_PERMISSIONS =
  'permissions apply only to "isolation": "process": a worker thread shares the host\'s process and its permissions, so Node cannot confine it; set "isolation": "process" or remove "permissions"'
