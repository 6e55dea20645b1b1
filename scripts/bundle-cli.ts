/**
 * Builds the `teardown` command (bin/teardown.cjs runs it) from tsc's output, with esbuild, as two
 * CommonJS files in dist/src/cli/:
 *
 * - `teardown.cjs`: the command line (main.js) and the commands that read a live machine (ss,
 *   doctor, exporter, trace), with commander and picocolors; plus its V8 code cache,
 *   `teardown.cjs.cache`, made with the same compile call the entry (start.cjs) makes at run time;
 * - `teardown-experiments.cjs`: lab, report, compare and rpc-demo (`./lab.js` … in main.js),
 *   required only when one of them runs.
 *
 * koffi (a native addon), prom-client and cli-table3 (only the exporter and the lab's tables load
 * them) stay in node_modules, required when first needed.
 *
 * Why: Node 20 loads an ES module graph asynchronously, module by module, and reaches CommonJS
 * packages through a lexer; `teardown ss -a -p` loads ~50 modules that way, which costs its
 * start-up ~15 ms with 5 000 connections (bench/doctor.ts), as long as its owner scan of 4 000
 * descriptors. One synchronous file does not; its cache spares the compile (~7 ms), the split
 * the reading and compiling of code `ss` never runs (~3 ms). The library (`tcp-teardown/*`,
 * dist/src/**) stays tsc's ES modules; the tests run both.
 *
 * `import.meta.url` is per module: helper threads, child processes and fixtures are found next to
 * the module that names them (`new URL('./helper-worker.js', import.meta.url)`). Each module's
 * use is replaced by the URL of its own file in dist/src, computed from the bundle's location at
 * run time, so they load tsc's files exactly as the ES modules do. Any esbuild warning fails the
 * build (a warning about `import.meta` would mean a module the rewrite missed).
 */
import { build, type BuildOptions, type Plugin } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST_SRC = fileURLToPath(new URL('../src/', import.meta.url));
const CLI_DIR = join(DIST_SRC, 'cli');
const MAIN = join(CLI_DIR, 'teardown.cjs');
const EXPERIMENTS = 'teardown-experiments.cjs';

/** The command modules main.js imports (`await import('./lab.js')`) only when they run. */
const EXPERIMENT_COMMANDS: readonly string[] = ['lab', 'compare', 'report', 'rpc-demo'];

const MODULE_URL = '__teardownModuleUrl';

/** Replaces `import.meta.url` in each of our modules by its own file's URL, relative to the bundle. */
const moduleUrls: Plugin = {
  name: 'module-urls',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      if (!args.path.startsWith(DIST_SRC)) return undefined;
      const source = await readFile(args.path, 'utf8');
      if (!source.includes('import.meta')) return { contents: source, loader: 'js' };
      const rel = relative(CLI_DIR, args.path).split(sep).join('/');
      return { contents: source.replaceAll('import.meta.url', `${MODULE_URL}(${JSON.stringify(rel)})`), loader: 'js' };
    });
  },
};

/** In teardown.cjs, `import('./lab.js')` … from main.js become the matching part of teardown-experiments.cjs. */
const experimentsApart: Plugin = {
  name: 'experiments-apart',
  setup(b) {
    b.onResolve({ filter: /^\.\/[a-z-]+\.js$/ }, (args) => {
      const name = args.path.slice(2, -3);
      if (args.importer !== join(CLI_DIR, 'main.js') || !EXPERIMENT_COMMANDS.includes(name)) return undefined;
      return { path: name, namespace: 'experiment' };
    });
    b.onLoad({ filter: /.*/, namespace: 'experiment' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(`./${EXPERIMENTS}`)})[${JSON.stringify(args.path)}];`,
      loader: 'js',
    }));
  },
};

const common: BuildOptions = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: ['koffi', 'prom-client', 'cli-table3', `./${EXPERIMENTS}`],
  banner: {
    js: `'use strict';\nconst ${MODULE_URL} = (rel) => require('node:url').pathToFileURL(require('node:path').join(__dirname, rel)).href;`,
  },
  logLevel: 'silent',
};

async function bundle(what: string, options: BuildOptions): Promise<void> {
  const result = await build({ ...common, ...options }).catch((err: { errors?: { text: string }[]; message: string }) => ({ errors: err.errors ?? [{ text: err.message }], warnings: [] }));
  const messages = [...result.errors, ...result.warnings] as { text: string; location?: { file: string; line: number } | null }[];
  if (messages.length === 0) return;
  for (const m of messages) process.stderr.write(`bundle-cli: ${what}: ${m.text}${m.location == null ? '' : ` (${m.location.file}:${m.location.line})`}\n`);
  process.exit(1);
}

await bundle('teardown.cjs', { entryPoints: [join(CLI_DIR, 'main.js')], outfile: MAIN, plugins: [experimentsApart, moduleUrls] });
await bundle(EXPERIMENTS, {
  stdin: {
    contents: EXPERIMENT_COMMANDS.map((file) => `export * as ${JSON.stringify(file)} from ${JSON.stringify(`./${file}.js`)};`).join('\n'),
    resolveDir: CLI_DIR,
    sourcefile: 'experiments.js',
    loader: 'js',
  },
  outfile: join(CLI_DIR, EXPERIMENTS),
  plugins: [moduleUrls],
});

// start.cjs runs teardown.cjs through vm.Script, which has no loader for import(): every import
// of the bundle must have become a require().
for (const file of [MAIN, join(CLI_DIR, EXPERIMENTS)]) {
  if (/\bimport\(/.test(readFileSync(file, 'utf8'))) throw new Error(`${file} still has an import() (start.cjs cannot run it)`);
}

const start = createRequire(import.meta.url)(join(CLI_DIR, 'start.cjs')) as typeof import('../src/cli/start.cjs');
if (start.BUNDLE !== MAIN) throw new Error(`start.cjs loads ${start.BUNDLE}, this script wrote ${MAIN}`);
writeFileSync(start.CODE_CACHE, start.compileBundle(MAIN).createCachedData());
