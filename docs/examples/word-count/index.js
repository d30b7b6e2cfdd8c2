// word-count: a worker plugin with a hook and a function. It counts the words of every `text:*`
// event in ctx.state, which the host keeps, so the count outlives a restart of the thread.
export default {
  hooks: {
    async 'text:*'(payload, ctx, { event }) {
      const words = String(payload.text).split(/\s+/).filter(Boolean).length
      await ctx.state.incrCounter('words', words)
      await ctx.state.incrCounter(`events:${event}`)
    },
  },

  functions: {
    // sup.call('word-count.words') or ctx.call('word-count.words') from another plugin.
    async words(_args, ctx) {
      return ctx.state.getCounter('words')
    },
  },
}
