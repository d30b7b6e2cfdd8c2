/**
 * A watchdog thread in each child-process instance. The child leaves when its IPC channel closes
 * ('disconnect'), which happens at once when the supervisor dies, even by SIGKILL, but only if
 * the child's event loop turns: a hook busy in a long synchronous computation would keep it
 * alive, an orphan, until the hook returns. This thread does not share that loop. Every 200 ms it
 * checks whether the child was handed to another parent (Linux: the parent pid in
 * /proc/self/stat; elsewhere: whether the parent still exists), and if so ends the process.
 */
import { readFileSync } from 'node:fs'
import { workerData } from 'node:worker_threads'

const parent = (workerData as { ppid: number }).ppid

function parentNow(): number | undefined {
  try {
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'.
    const stat = readFileSync('/proc/self/stat', 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return undefined
  }
}

function parentGone(): boolean {
  const now = parentNow()
  if (now !== undefined) return now !== parent
  try {
    process.kill(parent, 0)
    return false
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

setInterval(() => {
  // SIGKILL: the supervisor is gone, nobody waits for this instance's answers, and a busy main
  // thread would not run an exit handler anyway.
  if (parentGone()) process.kill(process.pid, 'SIGKILL')
}, 200)
