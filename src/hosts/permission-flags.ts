/**
 * `worker.permissions` → the Node flags a confined child process is forked with. The child runs
 * the host's own Node binary (`fork` uses `process.execPath`), so what that binary offers is read
 * from it: Node 20 spells the switch `--experimental-permission`, Node 24 `--permission`, and
 * only Node 24 has `--allow-inspector`. Both take one path per `--allow-fs-*` flag, repeated
 * (checked on both: a comma-joined list is read as one path).
 */
import { realpathSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Permissions } from '../manifest/permissions.js'

/** What the running Node binary offers of the permission model. */
export interface NodePermissionSupport {
  /** The major version, for messages. */
  major: number
  /** The switch that turns the model on. */
  flag: '--permission' | '--experimental-permission'
  /** Whether `--allow-inspector` exists; without it the inspector is always refused under the model. */
  inspector: boolean
  /** Whether `--disable-warning` exists (quiets Node 20's ExperimentalWarning in every child). */
  disableWarning: boolean
}

/** The running binary's support, read from the flags it accepts rather than guessed from its version. */
export function nodeSupport(): NodePermissionSupport {
  const known = process.allowedNodeEnvironmentFlags
  return {
    major: Number(process.versions.node.split('.')[0]),
    flag: known.has('--permission') ? '--permission' : '--experimental-permission',
    inspector: known.has('--allow-inspector'),
    disableWarning: known.has('--disable-warning'),
  }
}

/** Where the plugin lives: its folder (a real path: discovery resolves symlinks) and its data folder. */
export interface ConfinedPlugin {
  rootPath: string
  dataDir: string
}

// dist/src/hosts/ → dist/: the compiled runtime the child loads (workers/ and what it imports of src/).
const DIST = fileURLToPath(new URL('../../', import.meta.url))

/**
 * What the runtime itself reads in the child: the compiled `workers/` and `src/` (never the host's
 * config or state), and comlink, its one npm dependency, wherever npm put it. The plugin's own
 * dependencies are its business: inside its folder they are readable, elsewhere they must be listed.
 */
export function runtimeReadPaths(): string[] {
  return (runtimePaths ??= [path.join(DIST, 'workers'), path.join(DIST, 'src'), packageDir('comlink')])
}
let runtimePaths: string[] | undefined

/** The folder of an installed package, found the way the child's import will find it. */
function packageDir(name: string): string {
  let dir = path.dirname(fileURLToPath(import.meta.resolve(name)))
  while (path.basename(dir) !== name && path.dirname(dir) !== dir) dir = path.dirname(dir)
  return dir
}

/**
 * The flags that confine one plugin's child process. Paths in `permissions` are relative to the
 * plugin folder; `*` stays `*` (everything). The plugin folder, the data folder and the runtime
 * are always readable, the data folder always writable.
 */
export function permissionFlags(
  p: Permissions,
  where: ConfinedPlugin,
  node: NodePermissionSupport = nodeSupport(),
  runtime: string[] = runtimeReadPaths(),
  real: (p: string) => string = realOrSelf,
): string[] {
  // Node checks the path as the plugin names it, but the module loader opens a module by its real
  // path (a pnpm or workspace link in node_modules): both are allowed.
  const expand = (x: string): string[] => (x === '*' ? ['*'] : [path.resolve(where.rootPath, x), real(path.resolve(where.rootPath, x))])
  const data = expand(where.dataDir)
  const read = p.fs.read.flatMap(expand)
  const write = p.fs.write.flatMap(expand)
  const flags: string[] = [node.flag]
  for (const r of everythingOr(unique([where.rootPath, ...data, ...runtime, ...read]))) flags.push(`--allow-fs-read=${r}`)
  for (const w of everythingOr(unique([...data, ...write]))) flags.push(`--allow-fs-write=${w}`)
  if (p.childProcess) flags.push('--allow-child-process')
  if (p.workerThreads) flags.push('--allow-worker')
  if (p.addons) flags.push('--allow-addons')
  if (p.wasi) flags.push('--allow-wasi')
  return flags
}

/**
 * Flags that go with the permission flags without being permissions: Node 20 prints an
 * ExperimentalWarning at every start of a confined child, which says nothing to an operator.
 */
export function quietFlags(node: NodePermissionSupport = nodeSupport()): string[] {
  return node.flag === '--experimental-permission' && node.disableWarning ? ['--disable-warning=ExperimentalWarning'] : []
}

/** Whether the inspector can be opened in a confined child, and with which extra flags. */
export type InspectorAccess =
  | { allowed: true; flags: string[]; opens: string | null }
  | { allowed: false; reason: string }

/**
 * Whether a child with these permissions can be profiled through the inspector (which a profiler
 * thread of the runtime drives). Unconfined: yes, with no flags. Confined on Node 20: no, Node
 * has no flag to allow the inspector there. Confined on Node 24: yes, adding `--allow-inspector`
 * and (for the profiler thread) `--allow-worker`; `opens` says what those open to plugin code too.
 */
export function inspectorAllowed(permissions: Permissions | undefined, node: NodePermissionSupport = nodeSupport()): InspectorAccess {
  if (!permissions) return { allowed: true, flags: [], opens: null }
  if (!node.inspector) {
    return {
      allowed: false,
      reason: `Node ${node.major} has no --allow-inspector: its permission model refuses the inspector to a child started with worker.permissions, so that plugin cannot be profiled; run the host on Node 24, or remove worker.permissions`,
    }
  }
  const flags = ['--allow-inspector', ...(permissions.workerThreads ? [] : ['--allow-worker'])]
  return {
    allowed: true,
    flags,
    opens: 'plugin code may connect to the inspector (and evaluate code through it) and start worker threads, which Node does not bind by the permission model',
  }
}

/** The real path of what exists; a path not there yet (a file the plugin will create) as it is. */
function realOrSelf(p: string): string {
  try {
    return realpathSync(p)
  } catch {
    return p
  }
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)]
}

/** `*` allows everything: the other paths would only repeat it. */
function everythingOr(xs: string[]): string[] {
  return xs.includes('*') ? ['*'] : xs
}
