#!/usr/bin/env node
// CommonJS shim: the package root is CommonJS-typed (for pm2), the CLI is an ES module in dist/.
import('../dist/src/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  console.error(err && err.stack ? err.stack : err)
  process.exitCode = 1
})
