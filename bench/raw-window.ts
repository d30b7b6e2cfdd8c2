/**
 * The raw transports at a chosen pipeline depth: the same events as the supervisor's wire
 * events, in batches of `batch`, with at most `window` batches unacknowledged; the next batch is
 * built and posted when an ack comes back. `bestWindow` sweeps the depth and keeps the fastest,
 * so a ratio against it compares with the transport at its best, not at the dispatcher's limit.
 */
import { pumpRaw, type LoadSample, type RawChannel } from './worker-load.js'

/** Pipeline depths tried, in batches. */
export const WINDOWS = [4, 8, 16, 32, 64]

export function driveRawWindow(ch: RawChannel, payloads: readonly unknown[], batch: number, window: number): Promise<LoadSample> {
  return pumpRaw(ch, payloads.length, (i) => payloads[i], batch, window, 'load:*')
}

export interface WindowSweep {
  best: LoadSample
  window: number
  /** One sample per depth, in `WINDOWS` order. */
  samples: LoadSample[]
  /** events/s at each depth, in `WINDOWS` order. */
  rates: number[]
}

/** Every depth of `WINDOWS` once; the fastest wins. */
export async function bestWindow(ch: RawChannel, payloads: readonly unknown[], batch: number): Promise<WindowSweep> {
  const samples: LoadSample[] = []
  for (const w of WINDOWS) samples.push(await driveRawWindow(ch, payloads, batch, w))
  const rates = samples.map((s) => payloads.length / (s.ms / 1000))
  const k = rates.indexOf(Math.max(...rates))
  return { best: samples[k], window: WINDOWS[k], samples, rates }
}

/**
 * The depth that is fastest over many sweeps: the best median. On a shared machine the best of
 * one sweep is the best of five noisy draws, which flatters the raw side against a system
 * measured once per round; the best median is the transport's best depth without that luck.
 */
export function steadyBest(sweeps: WindowSweep[]): number {
  const medians = WINDOWS.map((_, k) => {
    const xs = sweeps.map((s) => s.rates[k]).sort((a, b) => a - b)
    return xs[xs.length >> 1]
  })
  return medians.indexOf(Math.max(...medians))
}
