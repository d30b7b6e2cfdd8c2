/**
 * Counts the batches handed to the runtime and not answered yet, to tell the host whether a
 * batch found the instance idle (`RanMsg.waited`). The host widens its window on that signal:
 * an instance that waits while events are queued for it had too little in flight.
 */
export class RunCount {
  private n = 0

  /** A batch arrived; true when none was running or waiting before it. */
  arrived(): boolean {
    return this.n++ === 0
  }

  done(): void {
    this.n--
  }
}
