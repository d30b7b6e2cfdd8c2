import type { HostConfig } from '../config/config.js'
import { ClusterConfigSchema, withoutSecrets } from '../config/cluster-config.js'
import { describeIssues } from '../manifest/load.js'
import { OutriggerError } from '../errors.js'
import type { PluginLogger } from '../plugin/types.js'
import { ClusterNode } from './cluster-node.js'
import { loadTls } from './tls.js'

/**
 * The cluster node of a host, when its config has `cluster` or `--cluster URL` was given (the URL
 * wins over `cluster.redis`). Waits for the first connection (ClusterNode.start says why and how
 * long). `baseDir` is the config file's folder: `cluster.tls` paths are relative to it.
 */
export async function joinCluster(url: string | undefined, config: HostConfig, opts: { stateDir: string; baseDir: string; log: PluginLogger }): Promise<ClusterNode | undefined> {
  if (!url && !config.cluster) return undefined
  const raw = { ...config.cluster, ...(url ? { redis: url } : {}) }
  const parsed = ClusterConfigSchema.safeParse(raw)
  if (!parsed.success) throw new OutriggerError('RIG_ERR_CONFIG_INVALID', `cluster (--cluster or the config's "cluster"): ${describeIssues(parsed.error, (withoutSecrets({ cluster: raw }) as { cluster: unknown }).cluster).join('; ')}`)
  const tls = await loadTls(parsed.data.tls, opts.baseDir)
  const node = new ClusterNode(parsed.data, { stateDir: opts.stateDir, commitMs: config.journal.commitMs, log: opts.log, tls })
  await node.start()
  return node
}
