import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { startSupervisor } from '../../src/start.js'
import type { Supervisor, SupervisorOptions } from '../../src/supervisor/types.js'

/** A throwaway plugins folder: `available/` holds the plugins, `enabled/` links to them. */
export class PluginDir {
  /** Every supervisor started on this folder: `remove()` stops them, a failed test's included. */
  private readonly started: Supervisor[] = []

  private constructor(readonly root: string) {}

  static async create(prefix = 'outrigger-test-'): Promise<PluginDir> {
    // Core plugins in the tests report what they heard here; each folder starts with a clean slate.
    ;(globalThis as { __heard?: unknown[] }).__heard = []
    const root = await mkdtemp(path.join(tmpdir(), prefix))
    await mkdir(path.join(root, 'available'))
    await mkdir(path.join(root, 'enabled'))
    await writeFile(path.join(root, 'package.json'), '{"type":"module"}\n')
    return new PluginDir(root)
  }

  get enabled(): string {
    return path.join(this.root, 'enabled')
  }

  get stateDir(): string {
    return path.join(this.root, 'state')
  }

  /**
   * Writes a plugin (manifest + index.js source) into `available/<folder>` and links it from
   * `enabled/`. `manifest` may be a raw string to write malformed JSON.
   */
  async add(folder: string, manifest: object | string, code = 'export default {}\n', opts: { enable?: boolean; files?: Record<string, string> } = {}): Promise<string> {
    const dir = path.join(this.root, 'available', folder)
    await mkdir(dir, { recursive: true })
    await writeFile(path.join(dir, 'manifest.json'), typeof manifest === 'string' ? manifest : JSON.stringify(manifest, null, 2))
    await writeFile(path.join(dir, 'index.js'), code)
    for (const [f, text] of Object.entries(opts.files ?? {})) await writeFile(path.join(dir, f), text)
    if (opts.enable !== false) await symlink(path.join('..', 'available', folder), path.join(this.enabled, folder), 'dir')
    return dir
  }

  /** A supervisor on this folder: in-memory store, no socket, no HTTP, silent logs unless asked. */
  async start(opts: SupervisorOptions = {}): Promise<Supervisor> {
    const sup = await startSupervisor({
      app: `test-${path.basename(this.root)}`,
      pluginsDir: this.enabled,
      stateDir: this.stateDir,
      store: 'memory',
      control: false,
      http: false,
      ...opts,
      config: { logLevel: 'silent', ...(opts.config as object | undefined) },
    })
    this.started.push(sup)
    return sup
  }

  /** Stops the supervisors started here (stopping is idempotent), then deletes the folder. */
  async remove(): Promise<void> {
    await Promise.all(this.started.splice(0).map((sup) => sup.stop()))
    await rm(this.root, { recursive: true, force: true })
  }
}

/** A core plugin manifest. */
export const core = (name: string, extra: object = {}) => ({ name, version: '1.0.0', type: 'core', ...extra })
/** A worker plugin manifest. */
export const worker = (name: string, w: object = {}, extra: object = {}) => ({ name, version: '1.0.0', type: 'worker', worker: w, ...extra })

/** A logger that keeps what it is told, to assert on warnings and errors. */
export function memoryLogger() {
  const lines: Array<{ level: string; obj: unknown; msg?: string; bindings: Record<string, unknown> }> = []
  const make = (bindings: Record<string, unknown>): any => {
    const at = (level: string) => (obj: unknown, msg?: string) => lines.push({ level, obj, msg: typeof obj === 'string' ? obj : msg, bindings })
    return { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), fatal: at('fatal'), child: (b: Record<string, unknown>) => make({ ...bindings, ...b }) }
  }
  return { logger: make({}), lines }
}
