/**
 * What a worker plugin placed in the cluster sees of it: the supervisor hands its accepted events
 * to a `PlacedQueue` instead of its own dispatcher, and the queue feeds the dispatcher with what
 * this node consumes. The supervisor imports these types only; `start.ts` builds the node.
 */
import { OutriggerError, type SerializedError } from '../errors.js'
import type { Pending } from '../delivery/queue.js'
import type { WorkerSettings } from '../manifest/schema.js'
import type { CoordinatorOptions } from '../coordination/coordinator.js'
import type { ClusterReport } from './report-types.js'

/** The plugin side: its settings and the local dispatcher that runs what this node consumes. */
export interface PlacedPlugin {
  name: string
  cfg: WorkerSettings
  dispatcher: {
    enqueue(subscription: string, event: string, payload: unknown, journal?: { seq: number; attempts: number }): boolean
    readonly counters: { redelivered: number }
  }
  /** A final failure of one event (a payload the stream cannot take). */
  report(event: string, err: unknown): void
}

export interface PlacedQueue {
  /** An event accepted on this node, on its way to the stream. */
  enqueue(subscription: string, event: string, payload: unknown): boolean
  /** A dead letter's replay: back into the stream. */
  offer(subscription: string, event: string, payload: unknown): boolean
  /** The dispatcher is done with an event this node consumed: ack it. */
  settled(p: Pending, outcome: string): void
  /**
   * An event consumed here ran out of attempts: into the plugin's dead-letter stream (then acked).
   * True when the stream keeps it instead (left over at a stop): no local dead letter then.
   */
  deadLettered(p: Pending, error: SerializedError | null): boolean
  /** Nothing buffered, nothing consumed and unfinished. */
  empty(): boolean
  /** Stops consuming (the drain): what was taken finishes, nothing new is read. */
  stop(): void
  close(): Promise<void>
}

export interface ClusterPlacement {
  attach(plugin: PlacedPlugin): PlacedQueue
  report(): Promise<ClusterReport>
  /** The coordinator's options on a node: the cluster's shared log, and this node's name in it. */
  coordination(snapshotEvery: number): Pick<CoordinatorOptions, 'makeLog' | 'node'>
}

/** The cluster report of `app`, or why there is none (no cluster config). */
export function clusterReport(app: string, cluster: ClusterPlacement | undefined): Promise<ClusterReport> {
  if (!cluster) return Promise.reject(new OutriggerError('RIG_ERR_CLUSTER_REQUIRED', `"${app}" is not in a cluster: give its host config "cluster": { "redis": "redis://…", "name": "…" } or start it with --cluster URL`))
  return cluster.report()
}
