/**
 * What a plugin was refused by Node's permission model (`worker.permissions`), in words an author
 * can act on. Node says only "Access to this API has been restricted"; its error also carries the
 * permission and the resource, which name the field to change. Host-free: the worker runtime
 * imports it (for hooks) and so does `import-error.ts` (for an entry whose imports were refused).
 */

/** Node's permission scopes → how `worker.permissions` allows them. */
const ALLOW: Record<string, (resource: string) => string> = {
  FileSystemRead: (r) => `add ${r || 'the path'} (absolute, or relative to the plugin folder) to worker.permissions.fs.read`,
  FileSystemWrite: (r) => `add ${r || 'the path'} (absolute, or relative to the plugin folder) to worker.permissions.fs.write`,
  ChildProcess: () => 'set worker.permissions.childProcess to true',
  WorkerThreads: () => 'set worker.permissions.workerThreads to true (see permissions.md for what that opens)',
  WASI: () => 'set worker.permissions.wasi to true',
  Inspector: () => 'plugins are not given the inspector (see permissions.md)',
}

interface Denied {
  code: 'ERR_ACCESS_DENIED' | 'ERR_DLOPEN_DISABLED'
  message: string
  permission?: unknown
  resource?: unknown
}

function denied(err: unknown): Denied | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code
  return err instanceof Error && (code === 'ERR_ACCESS_DENIED' || code === 'ERR_DLOPEN_DISABLED') ? (err as unknown as Denied) : undefined
}

/** The refusal explained, or undefined when `err` is not one. */
export function describeDenied(err: unknown): string | undefined {
  const d = denied(err)
  if (!d) return undefined
  if (d.code === 'ERR_DLOPEN_DISABLED') return `${d.message}: the permission model refuses native addons; set worker.permissions.addons to true`
  const permission = typeof d.permission === 'string' ? d.permission : 'an API'
  const resource = typeof d.resource === 'string' ? d.resource : ''
  const allow = ALLOW[permission]?.(resource) ?? 'see permissions.md'
  return `access denied by the permission model (${permission}${resource ? ` ${resource}` : ''}): ${allow}`
}

/**
 * The same refusal with the explained message: a new error keeping Node's code (`ERR_ACCESS_DENIED`
 * stays what the status report shows), its permission and resource, and the original as its cause.
 */
export function explainDenied(err: unknown): unknown {
  const message = describeDenied(err)
  if (message === undefined) return err
  const d = err as Error & Denied
  const out = Object.assign(new Error(message, { cause: err }), { code: d.code, permission: d.permission, resource: d.resource })
  // Where the plugin was refused is the original's stack, below its one-line message.
  const frames = d.stack?.split('\n').filter((l) => /^\s+at /.test(l)) ?? []
  out.stack = [`Error: ${message}`, ...frames].join('\n')
  return out
}
