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
 * packages through a lexer; `teardown ss -a -p` loads ~50 modules that way. Interleaved A/B runs
 * of whole processes during issue 13 (not a committed bench: bench/doctor.ts times the command
 * as shipped) measured, with 5 000 connections and NODE_EXTRA_CA_CERTS unset, 152 → 139 ms for
 * one CommonJS file, ~3–9 ms more with commander and picocolors inside it; the cache spares
 * ~7 ms of compile per start, the split ~3 ms of reading and compiling code `ss` never runs. The library (`tcp-teardown/*`,
 * dist/src/**) stays tsc's ES modules; the tests run both.
 *
 * `import.meta.url` is per module: helper threads, child processes and fixtures are found next to
 * the module that names them (`new URL('./helper-worker.js', import.meta.url)`). Each module's
 * use is replaced by the URL of its own file in dist/src, computed from the bundle's location at
 * run time, so they load tsc's files exactly as the ES modules do.
 *
 * The two files each hold their own copy of the modules both use, so a module must never be
 * initialised by both in one process (two copies of sys/libc.js would register koffi's types
 * twice, and koffi throws). An experiments command runs main.js's static imports, then only
 * teardown-experiments.cjs; the build checks that those static imports shared with the
 * experiments are modules known to hold no state at load ({@link SHARED_AT_LOAD}).
 *
 * Everything is built in memory and checked first (any esbuild warning — one about `import.meta`
 * would mean a module the rewrite missed —, any `import(` left: start.cjs runs the bundle through
 * vm.Script, which has no loader for it; the rule above); then the old cache is deleted, the files
 * written, and the cache made in a child Node without NODE_OPTIONS (V8 refuses a cache made
 * under other flags) and checked to be accepted there. V8 compares only the source's length and
 * the flags, not its content: a cache must never outlive the bundle it was made from.
 */
import { build, type BuildOptions, type BuildResult, type Message, type Metafile, type Plugin } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIST_SRC = join(ROOT, 'dist', 'src') + sep;
const CLI_DIR = join(DIST_SRC, 'cli');
const START = join(CLI_DIR, 'start.cjs');
// Where start.cjs loads the bundle and its cache from (requiring it runs nothing).
const { BUNDLE: MAIN, CODE_CACHE } = createRequire(import.meta.url)(START) as typeof import('../src/cli/start.cjs');
const EXPERIMENTS = 'teardown-experiments.cjs';

/** The command modules main.js imports (`await import('./lab.js')`) only when they run. */
const EXPERIMENT_COMMANDS: readonly string[] = ['lab', 'compare', 'report', 'rpc-demo'];

/**
 * Modules main.js imports statically that the experiments bundle has its own copy of, each known
 * to hold no state at load: constants and functions (cli/output.js makes its stdout writer on
 * first use, and main.js only calls usage() before it hands over to an experiments command).
 */
const SHARED_AT_LOAD: readonly string[] = ['dist/src/tcp/time.js', 'dist/src/tcp/address.js', 'dist/src/cli/output.js'];

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
  absWorkingDir: ROOT,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: ['koffi', 'prom-client', 'cli-table3', `./${EXPERIMENTS}`],
  // 'use strict' first: tsc's modules are ES modules, strict by definition, and must stay so.
  banner: {
    js: `'use strict';\nconst ${MODULE_URL} = (rel) => require('node:url').pathToFileURL(require('node:path').join(__dirname, rel)).href;`,
  },
  write: false,
  metafile: true,
  logLevel: 'silent',
};

function fail(message: string): never {
  process.stderr.write(`bundle-cli: ${message}\n`);
  process.exit(1);
}

type Built = BuildResult<{ write: false; metafile: true }>;

async function bundle(what: string, options: BuildOptions): Promise<Built> {
  let result: Built;
  try {
    result = (await build({ ...common, ...options })) as Built;
  } catch (err) {
    const errors = (err as { errors?: Message[] }).errors;
    fail(`${what}: ${errors === undefined ? String(err) : errors.map((m) => m.text).join('; ')}`);
  }
  const messages = [...result.errors, ...result.warnings];
  if (messages.length > 0) fail(messages.map((m) => `${what}: ${m.text}${m.location === null ? '' : ` (${m.location.file}:${m.location.line})`}`).join('\n'));
  for (const out of result.outputFiles) if (/\bimport\(/.test(out.text)) fail(`${what} still has an import() (start.cjs runs it through vm.Script, which cannot load it)`);
  return result;
}

/** main.js and every module it imports statically (not through import()): what any command initialises. */
function staticClosure(meta: Metafile, entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [entry];
  for (let f = todo.pop(); f !== undefined; f = todo.pop()) {
    const input = meta.inputs[f];
    if (seen.has(f) || input === undefined) continue;
    seen.add(f);
    for (const i of input.imports) if (i.kind !== 'dynamic-import' && i.external !== true) todo.push(i.path);
  }
  return seen;
}

const main = await bundle('teardown.cjs', { entryPoints: ['dist/src/cli/main.js'], outfile: MAIN, plugins: [experimentsApart, moduleUrls] });
const experiments = await bundle(EXPERIMENTS, {
  stdin: {
    contents: EXPERIMENT_COMMANDS.map((file) => `export * as ${JSON.stringify(file)} from ${JSON.stringify(`./${file}.js`)};`).join('\n'),
    resolveDir: CLI_DIR,
    sourcefile: 'experiments.js',
    loader: 'js',
  },
  outfile: join(CLI_DIR, EXPERIMENTS),
  plugins: [moduleUrls],
});

const inExperiments = new Set(Object.keys(experiments.metafile.inputs));
const twice = [...staticClosure(main.metafile, 'dist/src/cli/main.js')].filter((f) => inExperiments.has(f) && !SHARED_AT_LOAD.includes(f));
if (twice.length > 0) fail(`main.js imports statically what teardown-experiments.cjs also holds, and nothing says it is safe to load twice: ${twice.join(', ')} (import it inside the action, or add it to SHARED_AT_LOAD with the reason)`);

rmSync(CODE_CACHE, { force: true });
for (const out of [...main.outputFiles, ...experiments.outputFiles]) {
  mkdirSync(dirname(out.path), { recursive: true });
  writeFileSync(out.path, out.contents);
}

// The cache, made and then checked in a Node started as bin/teardown.cjs starts it: no NODE_OPTIONS.
const env = { ...process.env };
delete env.NODE_OPTIONS;
const inChild = (code: string): string => {
  const r = spawnSync(process.execPath, ['-e', code], { env, encoding: 'utf8' });
  if (r.status !== 0) fail(`making the code cache: ${r.stderr.trim() || `exit ${String(r.status ?? r.signal)}`}`);
  return r.stdout.trim();
};
const startModule = `require(${JSON.stringify(START)})`;
inChild(`const s = ${startModule}; require('node:fs').writeFileSync(s.CODE_CACHE, s.compileBundle().createCachedData());`);
const accepted = inChild(`const s = ${startModule}; process.stdout.write(String(s.compileBundle(s.BUNDLE, require('node:fs').readFileSync(s.CODE_CACHE)).cachedDataRejected));`);
if (accepted !== 'false') fail(`the code cache just made was rejected (cachedDataRejected: ${accepted})`);
