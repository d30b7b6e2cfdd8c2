// The root package stays CommonJS-typed so pm2 can `require` ecosystem.config.js;
// the compiled code is ES modules, so dist/ gets a package.json of its own that says so.
const fs = require('node:fs')
const path = require('node:path')
const root = path.join(__dirname, '..')
fs.writeFileSync(path.join(root, 'dist', 'package.json'), JSON.stringify({ type: 'module' }) + '\n')
// Regenerate the manifest JSON Schema from the zod schema so the two cannot drift apart.
require('node:child_process').execFileSync(process.execPath, [path.join(root, 'dist', 'scripts', 'gen-schema.js')], { stdio: 'inherit' })
// The dashboard is served from the package alone: its own files, and the chart library's from npm.
const dash = path.join(root, 'dist', 'dashboard')
fs.rmSync(dash, { recursive: true, force: true })
fs.mkdirSync(dash, { recursive: true })
for (const f of fs.readdirSync(path.join(root, 'dashboard'))) fs.copyFileSync(path.join(root, 'dashboard', f), path.join(dash, f))
const uplot = path.dirname(require.resolve('uplot/package.json'))
for (const f of ['uPlot.iife.min.js', 'uPlot.min.css']) fs.copyFileSync(path.join(uplot, 'dist', f), path.join(dash, f))
// MIT: its copyright notice travels with the copy.
fs.copyFileSync(path.join(uplot, 'LICENSE'), path.join(dash, 'uPlot.LICENSE'))
