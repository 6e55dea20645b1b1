// The `teardown` command's entry (bin/teardown.cjs runs it): loads the one-file build of the CLI,
// dist/src/cli/teardown.cjs (scripts/bundle-cli.ts), with the V8 code cache written beside it at
// build time. Compiling it was 11.8 ms of an idle `teardown ss` in a CPU profile (mostly the parser
// walking code the command never runs), and the cache took ~7 ms off each start in A/B runs. V8 rejects a cache made by
// another V8 version or under other V8 flags (NODE_OPTIONS), or for a source of another length,
// and the file is then compiled as usual; it does not compare the content, so the build writes
// the bundle and its cache together and deletes the old cache first.
// CommonJS on purpose: an ES module entry would start Node's ES module loader for nothing.
import { readFileSync } from 'node:fs';
import Module from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';

/** The CLI's bundle, dist/src/cli/teardown.cjs. */
export const BUNDLE = join(__dirname, 'teardown.cjs');
/** Its V8 code cache (`Script#createCachedData()` of {@link compileBundle}), written by the build. */
export const CODE_CACHE = `${BUNDLE}.cache`;

/** The bundle's source wrapped as Node wraps a CommonJS module. */
function wrappedSource(file: string): string {
  return Module.wrap(readFileSync(file, 'utf8'));
}

/**
 * Compiles the bundle (or `file`, for tests) as start.cjs runs it, with `cachedData` when given.
 * `cachedDataRejected` on the result tells whether V8 used it (undefined: none given). The build
 * makes the cache with this same call.
 * @throws Node's fs error when the file cannot be read (not built: `npm run build`).
 */
export function compileBundle(file = BUNDLE, cachedData?: Buffer): Script {
  return new Script(wrappedSource(file), cachedData === undefined ? { filename: file } : { filename: file, cachedData });
}

function readCache(): Buffer | undefined {
  try {
    return readFileSync(CODE_CACHE);
  } catch {
    return undefined; // not built with a cache: compile as usual
  }
}

/** Runs the bundle as the main module would run: the `teardown` command line. */
export function run(): void {
  const script = compileBundle(BUNDLE, readCache());
  const body = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: Module, filename: string, dirname: string) => void;
  const mod = new Module(BUNDLE);
  mod.filename = BUNDLE;
  body.call(mod.exports, mod.exports, Module.createRequire(BUNDLE), mod, BUNDLE, dirname(BUNDLE));
}
