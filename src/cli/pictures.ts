// Where `teardown lab` and `teardown report` write their pictures: one HTML page (--html FILE),
// one SVG per scenario (--svg DIR), one mermaid sequenceDiagram per scenario (--mermaid DIR).
// The paths are checked before anything runs, so a typo costs one line and exit 2, not a lab run.

import { accessSync, constants as fsConstants, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { renderHtmlReport, type HtmlReportInput } from '../lab/report/html.js';
import { renderLadderMermaid, renderLadderSvg } from '../lab/report/ladder.js';

export interface PictureOptions {
  /** One self-contained HTML page. */
  html?: string;
  /** One `<scenario>.svg` each. */
  svg?: string;
  /** One `<scenario>.mmd` each (mermaid `sequenceDiagram`). */
  mermaid?: string;
}

function reason(e: unknown): string {
  return `${(e as NodeJS.ErrnoException).code ?? ''} ${(e as Error).message.replace(/^\w+: /, '')}`.replace(/\s+/g, ' ').trim();
}

/**
 * `mkdir -p` one level at a time: Node 20's `mkdirSync(…, { recursive: true })` spins for ever on
 * a missing directory under /proc (`/proc/x/y`) instead of failing with ENOENT.
 */
function makeDirs(dir: string): void {
  const missing: string[] = [];
  let at = resolve(dir);
  while (!existsSync(at)) {
    missing.unshift(at);
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  for (const d of missing) mkdirSync(d);
}

/** Makes `dir` (and its parents); the reason in one line when it cannot be made or written. */
export function outputDir(command: string, flag: string, dir: string): string | null {
  if (dir.trim() === '') return `teardown ${command}: ${flag} "": an empty path`;
  try {
    makeDirs(dir);
    if (!statSync(dir).isDirectory()) return `teardown ${command}: ${flag} ${JSON.stringify(dir)}: not a directory`;
    accessSync(dir, fsConstants.W_OK);
    return null;
  } catch (e) {
    return `teardown ${command}: ${flag} ${JSON.stringify(dir)}: ${reason(e)}`;
  }
}

/**
 * Checks that `file` can be written: its directory must exist and be writable.
 */
export function outputFile(command: string, flag: string, file: string): string | null {
  try {
    if (statSync(file, { throwIfNoEntry: false })?.isDirectory()) return `teardown ${command}: ${flag} ${JSON.stringify(file)}: is a directory`;
    if (!statSync(dirname(file)).isDirectory()) return `teardown ${command}: ${flag} ${JSON.stringify(file)}: ${dirname(file)} is not a directory`;
    accessSync(dirname(file), fsConstants.W_OK);
    return null;
  } catch (e) {
    return `teardown ${command}: ${flag} ${JSON.stringify(file)}: ${reason(e)}`;
  }
}

/** The first problem with the picture paths, in one line, or null when all can be written. */
export function checkPictureOutputs(command: string, opts: PictureOptions): string | null {
  if (opts.html !== undefined) {
    const p = outputFile(command, '--html', opts.html);
    if (p) return p;
  }
  for (const [flag, dir] of [['--svg', opts.svg], ['--mermaid', opts.mermaid]] as const) {
    const p = dir === undefined ? null : outputDir(command, flag, dir);
    if (p) return p;
  }
  return null;
}

/** Writes the pictures asked for; returns the paths written. */
export function writePictures(opts: PictureOptions, input: HtmlReportInput): string[] {
  const written: string[] = [];
  const traces = input.outcomes.flatMap((o) => (o.status === 'ran' ? [o.trace] : []));
  if (opts.html !== undefined) {
    writeFileSync(opts.html, renderHtmlReport(input));
    written.push(opts.html);
  }
  for (const t of traces) {
    if (opts.svg !== undefined) {
      const path = join(opts.svg, `${t.scenario}.svg`);
      writeFileSync(path, `${renderLadderSvg(t).svg}\n`);
      written.push(path);
    }
    if (opts.mermaid !== undefined) {
      const path = join(opts.mermaid, `${t.scenario}.mmd`);
      writeFileSync(path, renderLadderMermaid(t));
      written.push(path);
    }
  }
  return written;
}
