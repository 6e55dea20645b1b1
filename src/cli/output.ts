// The CLI's one way to write to stdout: a reader that goes away early (`| head`, a closed
// terminal) ends the command quietly instead of crashing it with an unhandled EPIPE.
//
// Why a module of its own: Node ignores SIGPIPE, so a write to a closed pipe does not kill the
// process as it kills ss or cat; the stream emits 'error' (EPIPE) later, and with no listener
// that error is thrown from the event loop with a stack. Every command that prints (ss, doctor,
// trace, lab) shares this writer, so each gets the same behaviour: no stack, exit 0, and a
// `closed` signal long-running commands (watch, trace) use to stop and clean up.

import type { Writable } from 'node:stream';

/** Error codes that mean "the reader is gone", not "something broke". */
const READER_GONE = new Set(['EPIPE', 'ERR_STREAM_DESTROYED', 'ECONNRESET']);

/** The state of an {@link Output}: writing, or its reader went away. */
export type OutputState = 'open' | 'reader-gone';

/**
 * A writer over one stream that ends quietly when the reader goes away.
 *
 * - `write()` writes while the reader is there and does nothing after it left;
 * - `state` is `'reader-gone'` from the first EPIPE (or a destroyed stream) on;
 * - `gone` resolves then, so a loop (a watch, a trace) can stop and release what it holds;
 * - any other stream error is rethrown as it would have been without this writer.
 */
export class Output {
  readonly #stream: Writable;
  #state: OutputState = 'open';
  #resolveGone!: () => void;
  /** Resolves when the reader goes away (never, if it stays). */
  readonly gone: Promise<void>;

  constructor(stream: Writable) {
    this.#stream = stream;
    this.gone = new Promise<void>((resolve) => {
      this.#resolveGone = resolve;
    });
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (READER_GONE.has(err.code ?? '')) {
        this.#leave();
        return;
      }
      throw err;
    });
  }

  /** `'open'`, or `'reader-gone'` after an EPIPE. */
  get state(): OutputState {
    return this.#state;
  }

  /** Whether the stream is a terminal (colours, redraw in place). */
  get isTTY(): boolean {
    return (this.#stream as Writable & { isTTY?: boolean }).isTTY === true;
  }

  /** The terminal's size, or undefined when not a terminal. */
  get size(): { columns: number; rows: number } | undefined {
    const s = this.#stream as Writable & { columns?: number; rows?: number };
    return this.isTTY && s.columns !== undefined && s.rows !== undefined ? { columns: s.columns, rows: s.rows } : undefined;
  }

  /**
   * Writes `text` unless the reader is gone.
   * @returns false when the reader is gone (the text was dropped).
   */
  write(text: string): boolean {
    if (this.#state !== 'open') return false;
    if (this.#stream.destroyed || this.#stream.writableEnded) {
      this.#leave();
      return false;
    }
    this.#stream.write(text);
    return true;
  }

  /** Resolves when everything written so far is handed to the OS (or the reader left). */
  drained(): Promise<void> {
    if (this.#state !== 'open' || this.#stream.writableLength === 0) return Promise.resolve();
    return Promise.race([new Promise<void>((resolve) => this.#stream.once('drain', () => resolve())), this.gone]);
  }

  #leave(): void {
    if (this.#state === 'reader-gone') return;
    this.#state = 'reader-gone';
    this.#resolveGone();
  }
}

/**
 * A usage error of `teardown CMD`: the reason and where help is, on stderr.
 * @returns 2, the exit code of bad usage.
 */
export function usage(cmd: string, message: string): number {
  process.stderr.write(`teardown ${cmd}: ${message}\n(run teardown ${cmd} --help for usage)\n`);
  return 2;
}

/** Shows `label … 1.2 s` on stderr while `work` runs longer than 300 ms, only when stderr is a terminal. */
export async function withProgress<T>(label: string, work: Promise<T>): Promise<T> {
  if (process.stderr.isTTY !== true) return work;
  const started = performance.now();
  let shown = false;
  const timer = setInterval(() => {
    shown = true;
    process.stderr.write(`\r${label} … ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }, 300);
  try {
    return await work;
  } finally {
    clearInterval(timer);
    if (shown) process.stderr.write('\r\x1b[K');
  }
}

let stdout: Output | undefined;

/** The process's stdout as an {@link Output} (one per process, so one 'error' listener). */
export function standardOutput(): Output {
  stdout ??= new Output(process.stdout);
  return stdout;
}

/** Colour functions (picocolors' shape); see {@link paintFor}. */
export type Colours = ReturnType<typeof import('picocolors').createColors>;

/**
 * Colours for people only: on when the output is a terminal (or FORCE_COLOR is set), off with
 * NO_COLOR and whenever output goes to a pipe or file.
 */
export async function paintFor(out: Output): Promise<Colours> {
  const { default: picocolors } = await import('picocolors');
  return picocolors.createColors(!('NO_COLOR' in process.env) && ('FORCE_COLOR' in process.env || out.isTTY));
}

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/y;

/**
 * Cuts a line to `columns` visible characters, keeping colour escapes whole (and resetting
 * colour when it cuts), so a redraw never wraps onto the next line.
 */
export function fitLine(line: string, columns: number): string {
  let visible = 0;
  let i = 0;
  let cut = false;
  let out = '';
  while (i < line.length) {
    ANSI.lastIndex = i;
    const m = ANSI.exec(line);
    if (m !== null) {
      out += m[0];
      i += m[0].length;
      continue;
    }
    const cp = line.codePointAt(i) as number;
    const ch = String.fromCodePoint(cp);
    if (visible >= columns) {
      cut = true;
      break;
    }
    out += ch;
    visible++;
    i += ch.length;
  }
  return cut ? `${out}\x1b[0m` : out;
}

/**
 * Why a long-running command (a watch, a trace) stops: SIGINT, SIGTERM, or its reader going away.
 * One of these per loop; `sleep()` is a pause the stop cuts short; `dispose()` unhooks the signals.
 */
export class StopSignal {
  #stopped = false;
  #wake: (() => void) | undefined;
  readonly #onSignal = (): void => this.stop();

  constructor(out: Output) {
    process.once('SIGINT', this.#onSignal);
    process.once('SIGTERM', this.#onSignal);
    void out.gone.then(this.#onSignal);
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }

  /** Waits `ms` milliseconds, or less when the command is stopped meanwhile. */
  sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  dispose(): void {
    process.off('SIGINT', this.#onSignal);
    process.off('SIGTERM', this.#onSignal);
  }
}
