import { spawnSync } from 'node:child_process';

/**
 * Everything the lab starts that must not outlive it: peer processes (by pid), helper processes
 * and network namespaces. Cleaned when a scenario ends, and — synchronously — when this process
 * exits or is interrupted, so Ctrl+C mid-run leaves nothing behind.
 */
class Resources {
  readonly pids = new Set<number>();
  readonly namespaces = new Set<string>();
  #hooked = false;

  hook(): void {
    if (this.#hooked) return;
    this.#hooked = true;
    process.on('exit', () => this.releaseAll());
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(sig, () => {
        this.releaseAll();
        process.stderr.write(`\ninterrupted (${sig}): every lab process and namespace was removed\n`);
        process.exit(sig === 'SIGINT' ? 130 : 143);
      });
    }
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
    spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    this.namespaces.delete(name);
  }

  releaseAll(): void {
    for (const pid of [...this.pids]) this.killPid(pid);
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
