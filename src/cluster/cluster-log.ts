/**
 * The coordination log of a cluster: one total order in Redis (log-stream.ts), many writers.
 * Every node reads the stream from the last seq it applied, applies each entry to its replica,
 * keeps a local copy (lmdb, with snapshots, like the embedded log) and then tells its listeners,
 * in seq order: the API and the guarantees are those of one machine.
 *
 * An append is checked against the replica at the log's head, and written only if the head has
 * not moved meanwhile; else this node catches up and checks it again. Each proposal carries an
 * id of its own, so an append whose answer was lost with the connection is recognised when its
 * entry is read back, never written twice.
 */
import { readdirSync, rmSync } from 'node:fs'
import path from 'node:path'
import { LmdbLogStore } from '../coordination/lmdb-log-store.js'
import { LogBase, type Applied } from '../coordination/log-base.js'
import type { LogStore } from '../coordination/log-store.js'
import { applyEntry, deepFreeze } from '../coordination/replica.js'
import type { CoordinationMap, HandlerFailure, LogEntry } from '../coordination/types.js'
import { OutriggerError, errorMessage } from '../errors.js'
import type { PluginLogger } from '../plugin/types.js'
import { backoffMs, MAX_BACKOFF_MS, RedisLink } from './connection.js'
import type { LogStream, Stored } from './log-stream.js'
import type { RedisTls } from './tls.js'

export interface ClusterLogOptions {
  stream: LogStream
  /** The node's command link, and a URL (with its TLS options) for the blocking reader's own connection. */
  link: RedisLink
  url: string
  tls: RedisTls | undefined
  node: string
  /** The folder of the local copies (one per epoch of the cluster's log). */
  dir: string
  snapshotEvery: number
  handlersOf(plugin: string): CoordinationMap | undefined
  /** A core plugin's apply threw on an entry another node appended: the plugin is failed here. */
  applyFailed(f: HandlerFailure & { plugin: string }): void
  log: PluginLogger
}

interface Proposal {
  id: string
  type: string
  args: unknown
  cause?: number
  resolve(e: LogEntry): void
  reject(err: Error): void
}

/** Proposals written in one round trip. */
const BATCH = 256

export class ClusterLog extends LogBase {
  private local: LmdbLogStore | undefined
  private readonly queue: Proposal[] = []
  /** Proposals written or being written, by id, until their entry is read back. */
  private readonly inflight = new Map<string, Proposal>()
  private nextId = 0
  private writing = false
  /** Local writes and notifications, one batch after another. */
  private chain: Promise<void> = Promise.resolve()
  private reader: RedisLink | undefined
  private reading: Promise<void> = Promise.resolve()
  private opened = false
  private joined = false
  private closed = false

  constructor(private readonly opts: ClusterLogOptions) {
    super(opts.snapshotEvery, opts.handlersOf)
  }

  get store(): LogStore {
    if (!this.local) throw new OutriggerError('RIG_ERR_CLOSED', 'the cluster\'s coordination log is not open yet')
    return this.local
  }

  /** Needs Redis: the local copy is checked against the log's epoch, then caught up. */
  async open(): Promise<void> {
    const { stream, dir } = this.opts
    const epoch = await stream.epoch()
    // A copy under another epoch belongs to a log Redis no longer has.
    for (const old of readdirSafe(dir)) if (old !== epoch) rmSync(path.join(dir, old), { recursive: true, force: true })
    this.local = new LmdbLogStore(path.join(dir, epoch))
    const [head, copied] = [await stream.head(), await this.local.head()]
    if (head < copied) {
      // Redis lost the end of the log (no persistence, or a failover that dropped writes): its
      // order wins, the local copy starts again from it.
      this.opts.log.warn({ local: copied, cluster: head }, `cluster log: the local copy reaches seq ${copied} but the cluster's log only ${head}; Redis lost entries (keep its append-only file on). Rebuilding the copy from the cluster's log`)
      await this.local.close()
      rmSync(path.join(dir, epoch), { recursive: true, force: true })
      this.local = new LmdbLogStore(path.join(dir, epoch))
    }
    await this.load(this.local)
    await this.catchUp(false)
    this.opened = true
    this.reader = new RedisLink(this.opts.url, { name: `outrigger-${this.opts.node}-log`, tls: this.opts.tls })
    this.reading = this.follow()
    // The node's first entry: what an earlier life under the same id left in the replica goes.
    await this.append('node/joined', { node: this.opts.node })
    this.joined = true
  }

  /** Open, and this node's `node/joined` is in: what the node decides in the log may start. */
  get isOpen(): boolean {
    return this.joined && !this.closed
  }

  /** Reads what the log holds beyond this node's head, until none is left. */
  private async catchUp(live: boolean): Promise<void> {
    for (;;) {
      const got = await this.opts.stream.range(this.last + 1, 1024)
      if (!got.length) return
      this.ingest(got, live)
      await this.chain
    }
  }

  /** The tail: a blocking read from the last applied seq, again and again. */
  private async follow(): Promise<void> {
    const reader = this.reader!
    while (!this.closed) {
      if (!reader.up) {
        await reader.ready(MAX_BACKOFF_MS)
        continue
      }
      try {
        this.ingest(await this.opts.stream.after(reader.client, this.last, 1000, 512), true)
      } catch (err) {
        if (this.closed) return
        if (reader.up) {
          this.opts.log.warn({ err }, `cluster log: reading the log failed: ${errorMessage(err)}`)
          await new Promise((r) => setTimeout(r, MAX_BACKOFF_MS).unref())
        }
      }
    }
  }

  /**
   * Applies the entries that follow this node's head (others are known already), then writes
   * them to the local copy and tells the listeners, after the batches before. `live`: new
   * entries (an apply that throws fails its plugin); otherwise replayed at open.
   */
  private ingest(entries: Stored[], live: boolean): void {
    const batch: Applied[] = []
    for (const raw of entries) {
      if (raw.seq <= this.last) continue
      // A gap cannot come from one stream read in order; the next read starts at the head again.
      if (raw.seq !== this.last + 1) break
      const { by, ...fields } = raw
      const entry = deepFreeze(fields)
      const old = this.current
      const a = applyEntry(old, entry, this.handlersOf)
      if (a.failure && live) this.opts.applyFailed(a.failure)
      batch.push({ entry, old, next: a.next, diff: a.diff, snap: this.advance(entry, a.next) })
      const mine = by === undefined ? undefined : this.inflight.get(by)
      if (mine) {
        this.inflight.delete(by!)
        this.whenDurable(entry).then(mine.resolve, mine.reject)
      }
    }
    if (!batch.length) return
    const local = this.local!
    this.chain = this.chain.then(async () => {
      try {
        await local.append(batch.map((b) => b.entry))
        for (const b of batch) if (b.snap) await local.writeSnapshot(b.snap)
      } catch (err) {
        // Only the copy suffered: the log is Redis's, and reads fall back to it.
        if (!this.closed) this.opts.log.warn({ err }, `cluster log: the local copy of entries ${batch[0].entry.seq}–${batch[batch.length - 1].entry.seq} was not written: ${errorMessage(err)}`)
      }
      this.publish(batch)
    })
  }

  append(type: string, args: unknown, cause?: number): Promise<LogEntry> {
    if (this.closed || !this.opened) return Promise.reject(new OutriggerError('RIG_ERR_CLOSED', `coordination log: "${type}" refused: the log is ${this.opened ? 'closed' : 'not open yet (a plugin factory runs before it opens; append from init on)'}`))
    return new Promise<LogEntry>((resolve, reject) => {
      this.queue.push({ id: `${this.opts.node}:${this.nextId++}`, type, args, cause, resolve, reject })
      if (!this.writing) void this.writeLoop()
    })
  }

  /** Group commit: what is proposed while a write is under way goes in the next one. */
  private async writeLoop(): Promise<void> {
    this.writing = true
    try {
      await null
      while (this.queue.length && !this.closed) await this.commit(this.queue.splice(0, BATCH))
    } finally {
      this.writing = false
    }
  }

  /** Writes `batch` on top of the head this node applied; on a moved head, catches up and tries again. */
  private async commit(batch: Proposal[]): Promise<void> {
    let left = batch
    let failures = 0
    while (left.length) {
      if (this.closed) return left.forEach((p) => p.reject(closedError(p.type)))
      const head = this.last
      let replica = this.current
      const entries: Array<LogEntry & { by: string }> = []
      const next: Proposal[] = []
      for (const p of left) {
        const dup = p.cause === undefined ? undefined : this.duplicate(p.type, p.args, p.cause, entries)
        if (dup) {
          this.whenDurable(dup).then(p.resolve, p.reject)
          continue
        }
        const entry = { seq: head + entries.length + 1, type: p.type, args: p.args, at: Date.now() }
        const a = applyEntry(replica, entry, this.handlersOf)
        if (a.failure) {
          const f = a.failure
          p.reject(new OutriggerError('RIG_ERR_COORD_HANDLER', `plugin "${f.plugin}": its ${f.stage} of entry "${p.type}" threw: ${f.message}; the entry was refused and no replica changed`, { details: { plugin: f.plugin, type: p.type, stage: f.stage } }))
          continue
        }
        replica = a.next
        entries.push({ ...entry, by: p.id })
        next.push(p)
        this.inflight.set(p.id, p)
      }
      if (!entries.length) return
      try {
        const res = await this.opts.stream.append(head, entries)
        if (res.ok) this.ingest(entries, true)
        else await this.catchUp(true)
      } catch (err) {
        if ((err as Error).name === 'ReplyError') {
          for (const p of next) this.inflight.delete(p.id)
          next.forEach((p) => p.reject(new OutriggerError('RIG_ERR_COORD_LOG', `coordination log: Redis refused the append of "${p.type}": ${errorMessage(err)}`, { cause: err })))
          return
        }
        // The connection dropped: the entries may or may not be in. Wait for Redis, read what
        // the log holds now (ours resolve as they are read back), and write the rest again.
        // A timer first: the client may still say "ready" until its socket's close is handled,
        // and retrying on promises alone would never give the event loop that turn.
        await new Promise((r) => setTimeout(r, backoffMs(++failures)))
        while (!this.closed && !(await this.opts.link.ready(MAX_BACKOFF_MS)));
        await this.catchUp(true).catch(() => undefined)
      }
      left = next.filter((p) => this.inflight.has(p.id))
    }
  }

  /** What left memory is read from the local copy, or from Redis if the copy lacks it. */
  protected override async readStored(from: number, count: number): Promise<LogEntry[]> {
    const got = await this.store.read(from, count)
    if (got.length || !this.opts.link.up) return got
    return (await this.opts.stream.range(from, count)).map(({ seq, type, args, at }) => ({ seq, type, args, at }))
  }

  async close(): Promise<void> {
    this.closed = true
    for (const p of this.queue.splice(0)) p.reject(closedError(p.type))
    for (const p of this.inflight.values()) p.reject(closedError(p.type))
    this.inflight.clear()
    this.reader?.close()
    await this.reading
    await this.chain
    this.failWaiting(closedError('an entry'))
    await this.local?.close()
  }
}

function closedError(type: string): OutriggerError {
  return new OutriggerError('RIG_ERR_CLOSED', `coordination log: "${type}" not appended: this node is leaving the cluster`)
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}
