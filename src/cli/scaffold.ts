/** `new <name>`: scaffolds a plugin folder that `validate` accepts and `start` loads. */
import { mkdir, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Command } from 'commander'
import { PLUGIN_NAME } from '../manifest/schema.js'
import { println } from './context.js'
import { indexJs, manifestJson, packageJson, testJs, type TemplateInput } from './templates.js'
import { KINDS } from './kind-templates.js'

export function registerNew(program: Command): void {
  program
    .command('new <name>')
    .description('create a plugin folder <name>/ with manifest, entry, test and package.json')
    .option('--type <type>', 'core or worker', 'core')
    .option('--isolation <isolation>', 'thread or process (worker plugins)', 'thread')
    .option('--dir <dir>', 'create it in this folder instead of the current one', '.')
    .option('--kind <kind>', `what the plugin is: hooks and functions (default), or ${Object.keys(KINDS).join(', ')}`)
    .action(async (name: string, opts: { type: string; isolation: string; dir: string; kind?: string }, cmd: Command) => {
      const usage = (msg: string): never => cmd.error(`error: ${msg}`, { exitCode: 2, code: 'outrigger.usage' })
      if (!PLUGIN_NAME.test(name)) usage(`plugin name "${name}" must match ${PLUGIN_NAME} (lower case letters, digits, "_" and "-")`)
      if (opts.type !== 'core' && opts.type !== 'worker') usage(`--type must be core or worker (found "${opts.type}")`)
      if (opts.isolation !== 'thread' && opts.isolation !== 'process') usage(`--isolation must be thread or process (found "${opts.isolation}")`)
      const kind = opts.kind === undefined ? undefined : Object.hasOwn(KINDS, opts.kind) ? KINDS[opts.kind] : usage(`--kind must be one of ${Object.keys(KINDS).join(', ')} (found "${opts.kind}")`)
      if (kind?.only && opts.type !== kind.only) usage(`--kind ${opts.kind} makes a ${kind.only} plugin; leave out --type ${opts.type}`)
      const t: TemplateInput = { name, type: opts.type as TemplateInput['type'], isolation: opts.isolation as TemplateInput['isolation'] }
      const root = path.resolve(opts.dir, name)
      if (await stat(root).catch(() => null)) throw new Error(`${root} already exists; pick another name or --dir`)
      await mkdir(path.join(root, 'test'), { recursive: true })
      await writeFile(path.join(root, 'manifest.json'), (kind?.manifestJson ?? manifestJson)(t))
      await writeFile(path.join(root, 'package.json'), (kind?.packageJson ?? packageJson)(t))
      await writeFile(path.join(root, 'index.js'), (kind?.indexJs ?? indexJs)(t))
      await writeFile(path.join(root, 'test', 'index.test.js'), (kind?.testJs ?? testJs)(t))
      println(`created ${opts.kind ?? t.type} plugin ${name} in ${root}`)
      for (const line of nextSteps(name, root)) println(line)
    })
}

/**
 * What to do next. A plugin made in an `available/` folder only needs enabling (with `--plugins`
 * when its `enabled/` sibling is not the default); one made elsewhere must move there first.
 */
export function nextSteps(name: string, root: string, cwd = process.cwd()): string[] {
  const rel = (p: string): string => path.relative(cwd, p) || '.'
  const steps = [`next: outrigger validate ${rel(root)}`]
  const parent = path.dirname(root)
  if (path.basename(parent) === 'available') {
    const enabled = path.join(path.dirname(parent), 'enabled')
    const flag = path.resolve(cwd, 'plugins', 'enabled') === enabled ? '' : ` --plugins ${rel(enabled)}`
    steps.push(`      outrigger plugins enable ${name}${flag}   (links ${rel(enabled)}/${name} → ../available/${name})`)
  } else {
    steps.push(`      move it into plugins/available/, then: outrigger plugins enable ${name}`)
  }
  return steps
}
