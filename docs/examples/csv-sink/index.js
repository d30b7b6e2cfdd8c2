// csv-sink: a sink that appends `metrics:*` events to metrics.csv in its data folder, one append
// per batch of up to 50 events or 500 ms. A failed append retries the whole batch (at-least-once).
import { appendFile } from 'node:fs/promises'
import path from 'node:path'

export default {
  sinks: {
    'metrics:*': {
      batch: { max: 50, maxWaitMs: 500 },
      async write(batch, ctx) {
        const rows = batch.map(({ event, payload }) => `${event},${payload.name},${payload.value}\n`).join('')
        await appendFile(path.join(ctx.dataDir, 'metrics.csv'), rows)
      },
    },
  },
}
