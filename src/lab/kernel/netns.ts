import { createNamedNetns, setLinkUp, writeNetnsSysctl } from '../../sys/index.js';
import { resources } from './cleanup.js';
import { SLOT_COUNT, takePortSlot, type PortRange, type PortSlot } from './port-slots.js';

/** True when this process may create network namespaces and set their sysctls. */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

let counter = 0;

/**
 * A fresh network namespace with its loopback up: its own socket tables, its own sysctls, no
 * other traffic, and a local-port range of its own (see port-slots.ts: the kernel's tracepoints
 * carry no namespace, so ports tell the scenarios apart). Made and deleted with syscalls
 * (src/sys/netns.ts), no iproute2; named `tt-PID-N` under /run/netns, so `ip netns list` shows it.
 * Deleted by {@link NetNamespace.dispose} (and by the lab's exit hooks).
 */
export class NetNamespace {
  #slot: PortSlot | null = null;
  #unregisterSlot: (() => void) | null = null;

  private constructor(
    readonly name: string,
    /** `/run/netns/NAME`: what setns(2) opens to enter the namespace. */
    readonly path: string,
    /** Every local port of the namespace's sockets lies in this range (`ip_local_port_range`). */
    readonly ports: PortRange,
  ) {}

  /**
   * Makes the namespace, brings `lo` up and sets `sysctls` (plus its port range: the whole slot, or
   * its first `localPorts` ports — still inside the slot, so every traced event stays attributable).
   * @throws SysError when a namespace cannot be made (EPERM: not root) or a sysctl cannot be set;
   *   Error when no port slot is free. Nothing is left behind then.
   */
  static create(sysctls: Record<string, number>, localPorts?: number): NetNamespace {
    if (localPorts !== undefined && (!Number.isInteger(localPorts) || localPorts < 2)) throw new RangeError(`localPorts ${localPorts} is not an integer ≥ 2`);
    resources.hook();
    const name = `tt-${process.pid}-${++counter}`;
    const slot = takePortSlot((process.pid + counter) % SLOT_COUNT);
    const unregisterSlot = resources.onRelease(slot, () => slot.release());
    // Registered before it exists; everything below is synchronous, so a signal is handled either
    // before the namespace exists or after it is registered and made, never in between.
    resources.namespaces.add(name);
    let ns: NetNamespace | null = null;
    try {
      ns = new NetNamespace(name, createNamedNetns(name), slot.range);
      ns.#slot = slot;
      ns.#unregisterSlot = unregisterSlot;
      setLinkUp(ns.path, 'lo');
      const high = localPorts === undefined ? slot.range[1] : Math.min(slot.range[1], slot.range[0] + localPorts - 1);
      const all: Record<string, string | number> = { ...sysctls, 'net.ipv4.ip_local_port_range': `${slot.range[0]} ${high}` };
      for (const [key, value] of Object.entries(all)) writeNetnsSysctl(ns.path, key, value);
      return ns;
    } catch (e) {
      if (ns) ns.dispose();
      else {
        resources.deleteNamespace(name);
        slot.release();
        unregisterSlot();
      }
      throw e;
    }
  }

  /** The environment that puts a lab process (peer, sentinel) inside the namespace at start. */
  get env(): Record<string, string> {
    return { TT_NETNS: this.path };
  }

  dispose(): void {
    resources.deleteNamespace(this.name);
    this.#slot?.release();
    this.#unregisterSlot?.();
  }
}

