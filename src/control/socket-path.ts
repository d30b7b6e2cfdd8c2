import { chmodSync, lstatSync, mkdirSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { OutriggerError, type ErrorCode } from '../errors.js'

/** App names become file names, so they are kept to a safe alphabet (no separators, no dot-dot). */
const APP_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

/** Unix socket paths are limited by `sun_path` (108 bytes on Linux, 104 on macOS). */
const MAX_SOCKET_PATH = 103

/** DESIGN §5: `$OUTRIGGER_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/outrigger`, else `<tmp>/outrigger-<uid>`. */
export function resolveRuntimeDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OUTRIGGER_RUNTIME_DIR) return path.resolve(env.OUTRIGGER_RUNTIME_DIR)
  if (env.XDG_RUNTIME_DIR) return path.join(path.resolve(env.XDG_RUNTIME_DIR), 'outrigger')
  return path.join(os.tmpdir(), `outrigger-${currentUid()}`)
}

/** `<runtimeDir>/<app>.sock`; checks the app name and the platform's path length limit. */
export function socketPath(app: string, runtimeDir: string = resolveRuntimeDir()): string {
  if (!APP_NAME.test(app)) {
    throw new OutriggerError('RIG_ERR_CONFIG_INVALID', `app name "${app}" is not allowed: use letters, digits, "_", "." and "-" (at most 64, not starting with a symbol)`)
  }
  const p = path.join(runtimeDir, `${app}.sock`)
  if (Buffer.byteLength(p) > MAX_SOCKET_PATH) {
    throw new OutriggerError('RIG_ERR_CONFIG_INVALID', `control socket path ${p} is longer than ${MAX_SOCKET_PATH} bytes, which unix sockets cannot use; set OUTRIGGER_RUNTIME_DIR to a shorter folder`)
  }
  return p
}

/**
 * Creates the runtime folder with mode 0700, or tightens the mode of one we own. A folder owned by
 * another user is refused: whoever owns it could swap the socket under us (or read our requests).
 */
export function ensureRuntimeDir(dir: string, code: ErrorCode = 'RIG_ERR_CONTROL_IN_USE'): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const st = lstatSync(dir)
  if (!st.isDirectory()) {
    throw new OutriggerError(code, `control runtime folder ${dir} is not a folder; remove it or set OUTRIGGER_RUNTIME_DIR elsewhere`)
  }
  refuseForeignOwner(dir, st.uid, code)
  if ((st.mode & 0o777) !== 0o700) chmodSync(dir, 0o700)
}

/** Throws when `file` belongs to another user (root may not use another user's socket either). */
export function refuseForeignOwner(file: string, uid: number, code: ErrorCode): void {
  const me = currentUid()
  if (me >= 0 && uid !== me) {
    throw new OutriggerError(code, `${file} belongs to uid ${uid}, not to this user (uid ${me}); refusing to use it. Set OUTRIGGER_RUNTIME_DIR to a folder of your own`)
  }
}

function currentUid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : -1
}
