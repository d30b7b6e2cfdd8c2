// Runs the compiled test files with Node's own test runner. Files run one at a time: many spawn
// threads, children and sockets, and on a 2-core machine parallel files only fight for the CPU.
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const dir = path.join(__dirname, '..', 'dist', 'test')
const only = process.argv.slice(2)
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()
  .map((f) => path.join(dir, f))
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=180000', ...files], { stdio: 'inherit' })
process.exit(r.status ?? 1)
