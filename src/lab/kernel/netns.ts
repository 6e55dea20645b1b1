import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { resources } from './cleanup.js';
import { SLOT_COUNT, takePortSlot, type PortRange, type PortSlot } from './port-slots.js';

const run = promisify(execFile);

/** True when this process may create network namespaces and set their sysctls. */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

let counter = 0;

/**
 * A fresh network namespace with its loopback up: its own socket tables, its own sysctls, no
 * other traffic, and a local-port range of its own (see port-slots.ts: the kernel's tracepoints
 * carry no namespace, so ports tell the scenarios apart). Deleted by {@link NetNamespace.dispose}
 * (and by the lab's exit hooks).
 */
export class NetNamespace {
  private constructor(
    readonly name: string,
    /** Every local port of the namespace's sockets lies in this range (`ip_local_port_range`). */
    readonly ports: PortRange,
  ) {}

  /** `/run/netns/NAME`: what setns(2) opens to enter the namespace. */
  get path(): string {
    return `/run/netns/${this.name}`;
  }

  /** @throws Error when `ip netns add` fails (not root, no iproute2) or no port slot is free. */
  static async create(sysctls: Record<string, number>): Promise<NetNamespace> {
    resources.hook();
    const name = `tt-${process.pid}-${++counter}`;
    const slot: PortSlot = takePortSlot((process.pid + counter) % SLOT_COUNT);
    const unregisterSlot = resources.onRelease(slot, () => slot.release());
    // Registered before it exists, and made synchronously: a signal arriving now is handled after
    // `ip netns add` returns, when the clean-up can see (and delete) what it made. An async add
    // raced the clean-up: `ip netns del` ran first, then the add finished and the namespace stayed.
    resources.namespaces.add(name);
    const add = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
    if (add.status !== 0) {
      resources.deleteNamespace(name);
      slot.release();
      unregisterSlot();
      throw new Error(`ip netns add ${name} failed: ${(add.stderr || add.error?.message || `exit ${add.status}`).trim()}`);
    }
    const ns = new NetNamespace(name, slot.range);
    ns.#slot = slot;
    ns.#unregisterSlot = unregisterSlot;
    try {
      await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
      const all = { ...sysctls, 'net.ipv4.ip_local_port_range': `${slot.range[0]} ${slot.range[1]}` };
      for (const [key, value] of Object.entries(all)) {
        await run('ip', ['netns', 'exec', name, 'sysctl', '-q', '-w', `${key}=${value}`]);
      }
    } catch (e) {
      ns.dispose();
      throw e;
    }
    return ns;
  }

  #slot: PortSlot | null = null;
  #unregisterSlot: (() => void) | null = null;

  /** The argv prefix that runs a command inside the namespace. */
  wrap(argv: string[]): string[] {
    return ['ip', 'netns', 'exec', this.name, ...argv];
  }

  dispose(): void {
    resources.deleteNamespace(this.name);
    this.#slot?.release();
    this.#unregisterSlot?.();
  }
}
