import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Disjoint local-port ranges for the lab's namespaces.
 *
 * Why: the kernel's TCP tracepoints (`sock:inet_sock_set_state`, `tcp:tcp_send_reset`, …) carry
 * no network namespace, and every namespace has its own 127.0.0.1. A scenario's namespace gets
 * `net.ipv4.ip_local_port_range` set to a slot of its own, so every port of the scenario (its
 * listeners bind port 0 too, and `inet_csk_get_port()` picks those from the same range) lies in
 * that slot, and an event whose ports lie outside it belongs to someone else — another scenario,
 * another lab run, or the host.
 *
 * Slots are taken machine-wide with an atomic `mkdir` under /run (tmpfs: gone at reboot), holding
 * the owner's pid, so two concurrent lab runs never share one; a slot whose owner is dead is taken
 * over. They lie below the host's default ephemeral range (32768–60999), where the host's own
 * client connections do not land.
 */

/** An inclusive local-port range, `[low, high]`. */
export type PortRange = readonly [number, number];

const FIRST_PORT = 10_240;
/** Ports per slot: far more than any scenario opens, even with TIME_WAIT holding some. */
export const SLOT_SIZE = 512;
/** 10240 + 44 × 512 = 32768: the slots end where the host's default ephemeral range starts. */
export const SLOT_COUNT = 44;
const LOCK_DIR = '/run/tcp-teardown/port-slots';

/** A taken slot: its range and how to give it back. */
export interface PortSlot {
  range: PortRange;
  release(): void;
}

/** The range of slot `n` (0-based). @throws RangeError outside 0..SLOT_COUNT-1. */
export function slotRange(n: number): PortRange {
  if (!Number.isInteger(n) || n < 0 || n >= SLOT_COUNT) throw new RangeError(`port slot ${n} is not in 0..${SLOT_COUNT - 1}`);
  const low = FIRST_PORT + n * SLOT_SIZE;
  return [low, low + SLOT_SIZE - 1];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes a free slot for this process.
 * @param start the slot to try first (spreads concurrent runs; default derived from the pid).
 * @throws Error when all {@link SLOT_COUNT} slots are held by live processes.
 */
export function takePortSlot(start: number = process.pid % SLOT_COUNT): PortSlot {
  mkdirSync(LOCK_DIR, { recursive: true });
  for (let i = 0; i < SLOT_COUNT; i++) {
    const n = (start + i) % SLOT_COUNT;
    const dir = join(LOCK_DIR, `slot-${n}`);
    if (!tryLock(dir)) continue;
    writeFileSync(join(dir, 'pid'), String(process.pid));
    let released = false;
    return {
      range: slotRange(n),
      release: () => {
        if (released) return;
        released = true;
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  throw new Error(`all ${SLOT_COUNT} lab port slots are in use by live processes (${LOCK_DIR})`);
}

function tryLock(dir: string): boolean {
  try {
    mkdirSync(dir);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  // Held: take it over only when its owner is gone. A slot mid-creation has no pid file yet; its
  // owner is alive by definition, so an unreadable pid means "held".
  let owner: number;
  try {
    owner = Number(readFileSync(join(dir, 'pid'), 'utf8'));
  } catch {
    return false;
  }
  if (!Number.isInteger(owner) || owner <= 0 || owner === process.pid || alive(owner)) return false;
  rmSync(dir, { recursive: true, force: true });
  try {
    mkdirSync(dir);
    return true;
  } catch {
    return false; // another run took it over first
  }
}
