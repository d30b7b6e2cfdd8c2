/**
 * A node's reading loop over a plugin's streams, through the plugin's consumer group: XREADGROUP
 * on a link of its own (a blocked read holds its connection), taking no more than the room the
 * local dispatcher has, so what this node holds pending stays bounded and a slow node does not
 * sit on events another could run.
 */
import { debuglog } from 'node:util'
import type { RedisLink } from './connection.js'
import { backoffMs } from './connection.js'
import { readGroup, type Entry } from './stream-ops.js'

const debug = debuglog('outrigger')

/** The most entries one read takes. */
export const READ_MAX = 512

export interface ReaderHost {
  /** The streams to read now (a partitioned plugin's leased partitions); may adopt new ones first. */
  streams(): Promise<string[]>
  /** How many more entries this node may take. */
  room(): number
  take(stream: string, entries: Entry[]): void
  /** The group is gone (Redis lost its data): create it again. */
  regroup(): Promise<void>
}

export class GroupReader {
  private stopped = false
  private wakeup: (() => void) | undefined
  private done: Promise<void> = Promise.resolve()
  /** The streams of the read in flight: its answer may still bring entries of them. */
  private reading: readonly string[] = []

  constructor(private readonly link: RedisLink, private readonly consumer: string, private readonly host: ReaderHost, private readonly blockMs: number) {}

  start(): void {
    this.done = this.loop()
  }

  /** Whether a read in flight may still bring entries of `stream`. */
  reads(stream: string): boolean {
    return this.reading.includes(stream)
  }

  /** Room opened, or the streams changed: read again now. */
  wake(): void {
    this.wakeup?.()
  }

  private async loop(): Promise<void> {
    let failures = 0
    while (!this.stopped) {
      if (!this.link.up) {
        await this.link.ready(this.blockMs)
        continue
      }
      try {
        const streams = await this.host.streams()
        const room = this.host.room()
        if (!streams.length || room <= 0) {
          await this.sleep(this.blockMs)
          continue
        }
        this.reading = streams
        // COUNT applies per stream: the room is shared among them.
        const count = Math.max(1, Math.floor(Math.min(room, READ_MAX) / streams.length))
        const got = await readGroup(this.link.client, this.consumer, streams, streams.map(() => '>'), count, this.blockMs)
        failures = 0
        for (const [stream, entries] of got) if (!this.stopped) this.host.take(stream, entries)
        // Only once its entries are taken (counted as held) is a stream free of this read.
        this.reading = []
      } catch (err) {
        this.reading = []
        if (this.stopped) break
        debug('cluster read failed: %s', (err as Error).message)
        if (/NOGROUP/.test((err as Error).message)) await this.host.regroup().catch(() => undefined)
        else await this.sleep(backoffMs(++failures))
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms)
      const self = this
      function done() {
        clearTimeout(t)
        if (self.wakeup === done) self.wakeup = undefined
        resolve()
      }
      this.wakeup = done
    })
  }

  /** Stops reading; a blocked read is cut by closing its link. */
  async stop(): Promise<void> {
    this.stopped = true
    this.wake()
    this.link.close()
    await this.done
  }
}
