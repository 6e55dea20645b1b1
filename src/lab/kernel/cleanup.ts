import { deleteNamedNetns } from '../../sys/index.js';

/** Exit status of a run ended by a signal: 128 + the signal's number, as a shell reports it. */
const SIGNAL_EXIT: Readonly<Record<'SIGINT' | 'SIGTERM' | 'SIGHUP', number>> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

/**
 * Everything the lab starts that must not outlive it: peer processes (by pid), network
 * namespaces, and anything else with a synchronous closer (a tracefs instance, a port slot).
 * Cleaned when a scenario ends, and — synchronously — when this process exits or is interrupted,
 * so Ctrl+C mid-run leaves nothing behind.
 *
 * Why the signal handlers stay installed (`on`, not `once`): with no listener left, Node restores
 * the default action, and a second Ctrl+C during the clean-up would kill the process half-way
 * through it. With the listener kept, a second signal waits until the synchronous clean-up is done,
 * and the process has exited by then.
 */
class Resources {
  readonly pids = new Set<number>();
  readonly namespaces = new Set<string>();
  readonly #closers = new Map<object, () => void>();
  #hooked = false;
  #interrupted = false;

  hook(): void {
    if (this.#hooked) return;
    this.#hooked = true;
    process.on('exit', () => this.releaseAll());
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(sig, () => {
        if (this.#interrupted) return;
        this.#interrupted = true;
        this.releaseAll();
        // stderr may itself be a closed pipe; the exit status carries the news then.
        try {
          process.stderr.write(`\ninterrupted (${sig}): every lab process, namespace and trace buffer was removed\n`);
        } catch {
          // nothing to tell it to
        }
        process.exit(SIGNAL_EXIT[sig]);
      });
    }
  }

  /** Registers a synchronous closer, run by {@link releaseAll}; returns a function that unregisters it. */
  onRelease(key: object, close: () => void): () => void {
    this.#closers.set(key, close);
    return () => this.#closers.delete(key);
  }

  killPid(pid: number): void {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    this.pids.delete(pid);
  }

  deleteNamespace(name: string): void {
    // Synchronous (umount2 + unlink), so it can run in a signal handler and at 'exit'; it also
    // tidies a half-made namespace (the file without its mount).
    deleteNamedNetns(name);
    this.namespaces.delete(name);
  }

  releaseAll(): void {
    for (const pid of [...this.pids]) this.killPid(pid);
    for (const [key, close] of [...this.#closers]) {
      this.#closers.delete(key);
      try {
        close();
      } catch {
        // one closer failing must not keep the others from running
      }
    }
    for (const ns of [...this.namespaces]) this.deleteNamespace(ns);
  }
}

export const resources = new Resources();

/**
 * Environment of every process the lab starts: marked with the lab's pid, so a leak check (or a
 * person with `grep -l TT_LAB_OWNER /proc/[0-9]*\/environ`) can find strays.
 */
export function labChildEnv(): NodeJS.ProcessEnv {
  return { ...process.env, TT_LAB_OWNER: String(process.pid) };
}
