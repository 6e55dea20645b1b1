// fs.promises rather than node:fs/promises: in the CLI's bundle it loads on first use, and only
// --all-namespaces uses it.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

import { NETNS_RUN_DIR } from '../sys/netns.js';

/** One network namespace of this machine, as `--all-namespaces` reads it. */
export interface NetNamespace {
  /** The namespace's inode (the number in `net:[4026531840]`). */
  inode: number;
  /**
   * How rows and findings name it: its `/run/netns` name (`ip netns add NAME`), `init` for the
   * namespace of pid 1, else `net:[INODE]`.
   */
  label: string;
  /** A process inside it, the lowest pid (its tables are read through `/proc/PID/net` or setns). */
  pid: number | null;
  /** That process's `comm`. */
  command: string | null;
  /** Whether this process is in it. */
  self: boolean;
}

/** What {@link listNetNamespaces} found, and what it could not look into. */
export interface NetNamespaceList {
  namespaces: NetNamespace[];
  /** Processes whose `ns/net` link could not be read (not root): their namespaces may be missing. */
  unreadablePids: number;
  /** `/run/netns` names of namespaces no process is in: their sockets cannot be read by pid. */
  withoutProcess: string[];
}

function inodeOf(link: string): number | undefined {
  const m = /^net:\[(\d+)\]$/.exec(link);
  return m ? Number(m[1]) : undefined;
}

/**
 * Every network namespace on the machine: the distinct targets of `/proc/PID/ns/net` over every
 * process, named by the files in `/run/netns` (iproute2's named namespaces) where one matches.
 * Ordered: this process's namespace first, then by inode.
 *
 * @param root procfs mount point (default `/proc`).
 * @param runNetns directory of named namespaces (default `/run/netns`; missing is fine).
 * @throws Node's fs error when `root` cannot be listed or this process's own link cannot be read.
 */
export async function listNetNamespaces(root = '/proc', runNetns = NETNS_RUN_DIR): Promise<NetNamespaceList> {
  const own = inodeOf(await fsp.readlink(join(root, 'self/ns/net')));
  const init = await fsp.readlink(join(root, '1/ns/net')).then(inodeOf, () => undefined);
  const byInode = new Map<number, { pid: number }>();
  let unreadablePids = 0;
  const pids = (await fsp.readdir(root)).filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
  await Promise.all(
    pids.map(async (pid) => {
      try {
        const ino = inodeOf(await fsp.readlink(join(root, String(pid), 'ns/net')));
        if (ino === undefined) return;
        const seen = byInode.get(ino);
        if (seen === undefined || pid < seen.pid) byInode.set(ino, { pid });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EACCES' || code === 'EPERM') unreadablePids++;
        // ENOENT: exited mid-scan.
      }
    }),
  );
  const names = new Map<number, string>();
  const withoutProcess: string[] = [];
  let entries: string[] = [];
  try {
    entries = await fsp.readdir(runNetns);
  } catch {
    // no named namespaces
  }
  for (const name of entries.sort()) {
    try {
      const st = await fsp.stat(join(runNetns, name));
      if (!names.has(st.ino)) names.set(st.ino, name);
      if (!byInode.has(st.ino)) withoutProcess.push(name);
    } catch {
      // an unmounted leftover
    }
  }
  const namespaces: NetNamespace[] = [];
  for (const [inode, { pid }] of byInode) {
    const command = await fsp.readFile(join(root, String(pid), 'comm'), 'utf8').then((t) => t.trim(), () => null);
    namespaces.push({
      inode,
      label: names.get(inode) ?? (inode === init ? 'init' : `net:[${inode}]`),
      pid,
      command,
      self: inode === own,
    });
  }
  namespaces.sort((a, b) => Number(b.self) - Number(a.self) || a.inode - b.inode);
  return { namespaces, unreadablePids, withoutProcess };
}
