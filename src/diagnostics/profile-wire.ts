/**
 * The diagnostics channel of a child-process instance: one extra pipe (the child's fd 4), read by
 * a helper thread in the child, not by its main thread, so it answers while a hook holds the main
 * thread's event loop. Newline-delimited JSON both ways. Host-free: both sides import this file.
 */

/** The child's file descriptor of the channel (0–2 are stdio, 3 is the IPC channel). */
export const DIAGNOSTICS_FD = 4

/** Host → child: record a CPU profile of the main thread for `ms` and write it to `file`. */
export interface ProfileRequest {
  id: number
  ms: number
  file: string
}

/**
 * Child → host: the answer to request `id`. `id` 0, unasked: the child cannot profile at all
 * (no helper thread, no inspector), and `unavailable` says why.
 */
export type ProfileReply =
  | { id: number; ok: true; file: string; bytes: number; stack: string[] }
  | { id: number; ok: false; error: string; unavailable?: boolean }
