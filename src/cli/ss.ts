import { resolveStates } from '../doctor/states.js';
import { takeSnapshot, threadsForOneShot } from '../doctor/snapshot.js';
import { renderSockets } from '../doctor/render-sockets.js';
import { paintFor, standardOutput, usage, withProgress } from './output.js';

// `teardown ss`: loads the snapshot, the state names and the socket table only (no rules, no
// prom-client, no lab), so it starts about as fast as node itself.

/** Options of {@link ssCommand}, as commander hands them over. */
export interface SsOptions {
  all?: boolean;
  listening?: boolean;
  owners?: boolean;
  port?: number[];
  address?: string[];
  allNamespaces?: boolean;
  json?: boolean;
}

function withThreads(threads: number | undefined): { threads?: number } {
  return threads === undefined ? {} : { threads };
}

/**
 * `teardown ss [state NAME]... [exclude NAME]... [-a] [-l] [-p] [--port P]... [--address A]...
 * [--all-namespaces] [--json]`. As in ss, `exclude` alone starts from every state.
 * @returns the exit code: 0, or 2 on bad usage.
 */
export async function ssCommand(filter: string[], opts: SsOptions): Promise<number> {
  const include: string[] = [];
  const exclude: string[] = [];
  for (let i = 0; i < filter.length; i++) {
    const word = filter[i] as string;
    const name = filter[i + 1];
    if ((word === 'state' || word === 'exclude') && name !== undefined) {
      (word === 'state' ? include : exclude).push(name);
      i++;
    } else {
      return usage('ss', `expected "state NAME" or "exclude NAME", got ${JSON.stringify(word)}${word === 'state' || word === 'exclude' ? ' without a name' : ''}`);
    }
  }
  if (opts.all) include.push('all');
  if (opts.listening) include.push('listening');
  let states;
  try {
    states = resolveStates(include, exclude);
  } catch (err) {
    return usage('ss', err instanceof Error ? err.message : String(err));
  }
  const out = standardOutput();
  const snap = await withProgress(
    opts.owners ? 'reading sockets and /proc/PID/fd' : 'reading sockets',
    takeSnapshot({
      states: [...states],
      owners: opts.owners === true,
      allNamespaces: opts.allNamespaces === true,
      ...(opts.owners === true ? withThreads(threadsForOneShot()) : {}),
      ...(opts.port === undefined ? {} : { ports: opts.port }),
      ...(opts.address === undefined ? {} : { addresses: opts.address }),
    }),
  );
  const { sockets, sharedHolders, namespaces, ...meta } = snap;
  if (opts.json) {
    const kept = new Set(sockets.map((s) => s.inode));
    const shared = Object.fromEntries([...sharedHolders].filter(([inode]) => kept.has(inode)));
    const ns = namespaces === undefined ? {} : { namespaces: namespaces.read.map((n) => ({ label: n.label, inode: n.inode, pid: n.pid, command: n.command })) };
    out.write(`${JSON.stringify({ ...meta, ...ns, states: [...states], count: sockets.length, sockets, sharedHolders: shared }, null, 1)}\n`);
  } else {
    out.write(`${renderSockets(sockets, { paint: await paintFor(out), owners: opts.owners === true })}\n`);
  }
  if (opts.owners && snap.unreadablePids > 0) {
    process.stderr.write(
      `could not read /proc/PID/fd of ${snap.unreadablePids} process${snap.unreadablePids === 1 ? '' : 'es'} (EACCES/EPERM${process.geteuid?.() === 0 ? '' : ': not root'}): the sockets they hold show "?" (owner unreadable)\n`,
    );
  }
  for (const f of namespaces?.failed ?? []) process.stderr.write(`could not read namespace ${f.label}: ${f.reason}\n`);
  return 0;
}
