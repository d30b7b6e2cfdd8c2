// The root package stays CommonJS-typed so pm2 can `require` ecosystem.config.js;
// the compiled code is ES modules, so dist/ gets a package.json of its own that says so.
const fs = require('node:fs')
const path = require('node:path')
const root = path.join(__dirname, '..')
fs.writeFileSync(path.join(root, 'dist', 'package.json'), JSON.stringify({ type: 'module' }) + '\n')
// Regenerate the manifest JSON Schema from the zod schema so the two cannot drift apart.
require('node:child_process').execFileSync(process.execPath, [path.join(root, 'dist', 'scripts', 'gen-schema.js')], { stdio: 'inherit' })
