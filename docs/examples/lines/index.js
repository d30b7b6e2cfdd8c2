// lines: a source that emits each line of a text file once as `lines:line`, and after a restart
// goes on from its last checkpoint. Options: { "file": "<path>" }.
import { createReadStream } from 'node:fs'
import readline from 'node:readline'

export default {
  source: {
    async start(ctx) {
      const done = (await ctx.state.getState('line')) ?? 0
      const input = readline.createInterface({ input: createReadStream(ctx.options.file), crlfDelay: Infinity })
      ctx.signal.addEventListener('abort', () => input.close())
      let n = 0
      for await (const text of input) {
        if (++n <= done) continue // emitted before the checkpoint
        // false: a worker plugin this feeds is full; wait until it has room.
        if (!ctx.emit('lines:line', { n, text })) await ctx.drained()
        if (n % 100 === 0) await ctx.state.putState('line', n)
      }
      await ctx.state.putState('line', Math.max(n, done))
    },
  },
}
