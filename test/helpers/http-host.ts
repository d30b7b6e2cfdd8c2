import { mkdtemp, rm, symlink, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { HostConfig } from '../../src/config/config.js'
import { startSupervisor } from '../../src/start.js'
import type { Supervisor } from '../../src/supervisor/types.js'

/** The HTTP fixture plugins live beside the sources (the compiled test runs from dist/test/helpers). */
export const HTTP_FIXTURES = fileURLToPath(new URL('../../../test/fixtures/http/', import.meta.url))

export interface HttpHost {
  sup: Supervisor
  url: string
  stop(): Promise<void>
}

/**
 * A real supervisor over a throwaway plugins folder that links the named fixtures (the way
 * `plugins/enabled` links into `available`), with the HTTP API on an ephemeral port.
 */
export async function startHttpHost(plugins: string[], http: Partial<HostConfig['http']> = {}): Promise<HttpHost> {
  const root = await mkdtemp(path.join(tmpdir(), 'outrigger-http-'))
  const pluginsDir = path.join(root, 'enabled')
  await mkdir(pluginsDir)
  for (const p of plugins) await symlink(path.join(HTTP_FIXTURES, p), path.join(pluginsDir, p), 'dir')
  const sup = await startSupervisor({
    app: `http-test-${path.basename(root)}`,
    pluginsDir,
    stateDir: path.join(root, 'state'),
    store: 'memory',
    control: false,
    http: { port: 0 },
    config: { logLevel: 'silent', http: http as HostConfig['http'] },
  })
  const url = sup.httpUrl
  if (!url) {
    await sup.stop()
    throw new Error('the supervisor did not report the URL of its HTTP API')
  }
  return {
    sup,
    url,
    async stop() {
      await sup.stop()
      await rm(root, { recursive: true, force: true })
    },
  }
}

