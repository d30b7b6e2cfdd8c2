/**
 * The host's end of a child-process instance's diagnostics pipe (profile-wire.ts): sends profile
 * requests to the child's profiler thread and matches the answers. The child's main thread never
 * reads this pipe, so a request is answered while a hook holds it.
 */
import type { Duplex } from 'node:stream'
import { OutriggerError } from '../errors.js'
import type { ProfileWritten } from './cpu-profile.js'
import type { ProfileReply, ProfileRequest } from './profile-wire.js'

type Waiter = { resolve(r: ProfileWritten): void; reject(e: Error): void }

export class ProfileChannel {
  private nextId = 1
  private readonly waiting = new Map<number, Waiter>()
  private buffered = ''
  /** Set once the child said it cannot profile (no thread, no inspector), or the pipe closed. */
  private unavailable: string | undefined

  constructor(private readonly pipe: Duplex | null | undefined, private readonly label: string) {
    if (!pipe) {
      this.unavailable = 'the instance has no diagnostics pipe'
      return
    }
    // An idle instance must not keep the supervisor alive through this pipe.
    ;(pipe as Duplex & { unref?: () => void }).unref?.()
    pipe.on('data', (chunk: Buffer) => this.read(chunk))
    pipe.on('error', () => undefined)
    pipe.on('close', () => this.closed('the instance exited'))
  }

  /** Asks for `ms` of profile written to `file`; rejects RIG_ERR_PROFILE_UNAVAILABLE or RIG_ERR_PROFILE_FAILED. */
  profile(ms: number, file: string): Promise<ProfileWritten> {
    if (this.unavailable) return Promise.reject(this.refusal(this.unavailable))
    return new Promise((resolve, reject) => {
      const req: ProfileRequest = { id: this.nextId++, ms, file }
      this.waiting.set(req.id, { resolve, reject })
      this.pipe!.write(`${JSON.stringify(req)}\n`)
    })
  }

  /** Ends the channel (the instance is gone). */
  close(): void {
    this.pipe?.destroy()
    this.closed('the instance exited')
  }

  private read(chunk: Buffer): void {
    this.buffered += chunk.toString('utf8')
    for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
      const line = this.buffered.slice(0, nl)
      this.buffered = this.buffered.slice(nl + 1)
      let r: ProfileReply
      try {
        r = JSON.parse(line) as ProfileReply
      } catch {
        continue // not ours to crash on: a profile is a best effort
      }
      this.answer(r)
    }
  }

  private answer(r: ProfileReply): void {
    if (!r.ok && r.unavailable) this.unavailable = r.error
    if (!r.ok && r.id === 0) {
      for (const w of this.waiting.values()) w.reject(this.refusal(r.error))
      this.waiting.clear()
      return
    }
    const w = this.waiting.get(r.id)
    if (!w) return
    this.waiting.delete(r.id)
    if (r.ok) w.resolve({ file: r.file, bytes: r.bytes, stack: r.stack })
    else w.reject(r.unavailable ? this.refusal(r.error) : new OutriggerError('RIG_ERR_PROFILE_FAILED', `${this.label}: the CPU profile failed: ${r.error}`))
  }

  private closed(why: string): void {
    this.unavailable ??= why
    for (const w of this.waiting.values()) w.reject(new OutriggerError('RIG_ERR_PROFILE_FAILED', `${this.label}: ${why} before its CPU profile was written`))
    this.waiting.clear()
  }

  private refusal(why: string): OutriggerError {
    return new OutriggerError('RIG_ERR_PROFILE_UNAVAILABLE', `${this.label} cannot be profiled: ${why}`)
  }
}
