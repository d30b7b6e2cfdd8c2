import type { StateStore } from '../plugin/state-store.js'
import type { DeadLetter } from '../supervisor/types.js'

/**
 * Dead letters live in the state store (the durable one by default), so they outlive the
 * supervisor. Keys sort by time, so `list` returns them oldest first.
 */
export class DeadLetters {
  private readonly ns: string
  private seq = 0

  constructor(private readonly store: StateStore, private readonly plugin: string) {
    this.ns = `outrigger:dead-letters:${plugin}`
  }

  async add(letter: Omit<DeadLetter, 'id' | 'plugin' | 'at'>): Promise<void> {
    const at = new Date()
    const id = `${at.getTime().toString().padStart(14, '0')}-${process.pid}-${(this.seq++).toString().padStart(8, '0')}`
    const full: DeadLetter = { id, plugin: this.plugin, at: at.toISOString(), ...letter }
    await this.store.put(this.ns, id, full)
  }

  async list(): Promise<DeadLetter[]> {
    return (await this.store.list(this.ns)).map(([, v]) => v as DeadLetter)
  }

  async remove(id: string): Promise<void> {
    await this.store.delete(this.ns, id)
  }
}
