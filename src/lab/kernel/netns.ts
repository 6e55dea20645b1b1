import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { resources } from './cleanup.js';

const run = promisify(execFile);

/** True when this process may create network namespaces and set their sysctls. */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

let counter = 0;

/**
 * A fresh network namespace with its loopback up: its own socket tables, its own sysctls, no
 * other traffic. Deleted by {@link NetNamespace.dispose} (and by the lab's exit hooks).
 */
export class NetNamespace {
  private constructor(readonly name: string) {}

  /** @throws Error when `ip netns add` fails (not root, no iproute2). */
  static async create(sysctls: Record<string, number>): Promise<NetNamespace> {
    resources.hook();
    const name = `tt-${process.pid}-${++counter}`;
    await run('ip', ['netns', 'add', name]);
    resources.namespaces.add(name);
    const ns = new NetNamespace(name);
    try {
      await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
      for (const [key, value] of Object.entries(sysctls)) {
        await run('ip', ['netns', 'exec', name, 'sysctl', '-q', '-w', `${key}=${value}`]);
      }
    } catch (e) {
      ns.dispose();
      throw e;
    }
    return ns;
  }

  /** The argv prefix that runs a command inside the namespace. */
  wrap(argv: string[]): string[] {
    return ['ip', 'netns', 'exec', this.name, ...argv];
  }

  dispose(): void {
    resources.deleteNamespace(this.name);
  }
}
