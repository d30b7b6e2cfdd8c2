/** `outrigger status --cluster` and `GET /_status?cluster=1`: every node of the cluster. */
export interface ClusterReport {
  cluster: string
  /** The Redis URL, its password replaced by `***`. */
  redis: string
  node: string
  link: { connected: boolean; retries: number; retryInMs: number; outages: number; lastError: string | null }
  health: 'healthy' | 'degraded'
  /** The cluster's coordination log in Redis: its last seq. */
  log: { head: number }
  nodes: Array<{
    id: string
    host: string
    pid: number
    plugins: Array<{ name: string; instances: number }>
    lastBeatMs: number
    missing: boolean
    /** The log's seq the node had applied at its last beat (null: not open yet). */
    logSeq: number | null
  }>
  plugins: Array<{
    name: string
    streams: number
    length: number
    /** Entries not yet read by any node. */
    lag: number
    pending: number
    deadLetters: number
    /** Dead letters no longer in the dead-letter stream: dropped beyond `cluster.deadMaxLen` (oldest first), or deleted by hand. */
    deadDropped: number
    consumers: Array<{ node: string; pending: number; idleMs: number }>
    /** Entries trimmed from the plugin's streams in total (delivered and acked by every group), by any node. */
    trimmed: number
    /** The last trim pass: how long ago (Redis' clock) and how many entries it removed; null before the first. */
    lastTrim: { agoMs: number; removed: number } | null
  }>
  /** This node's producers: appended to streams, waiting in the outbox, forwarded after an outage. */
  local: Array<{ plugin: string; appended: number; outbox: number; journaled: number; forwarded: number; reclaimed: number; acked: number; partitions: number[] }>
}
