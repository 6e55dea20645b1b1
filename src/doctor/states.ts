import { TCP_STATES, type TcpState } from '../tcp/state.js';

/**
 * ss(8)'s state filter, for `teardown ss state …`: state names in ss's spelling (`close-wait`,
 * `fin-wait-2`, `established`, `listening`, …) or the kernel's (`CLOSE_WAIT`), and ss's groups.
 *
 * The groups are ss's (iproute2 `misc/ss.c`, `sstate_namel[]` and the `SS_*` masks):
 * - `all`: every state;
 * - `connected`: all but LISTEN and CLOSE;
 * - `synchronized`: connected, but not SYN_SENT;
 * - `bucket`: the mini-sockets, TIME_WAIT and SYN_RECV;
 * - `big`: all but the bucket states.
 *
 * The kernel's `NEW_SYN_RECV` (a request socket) goes with `SYN_RECV`, as ss shows it; the
 * kernel's `BOUND_INACTIVE` (a bound socket that never listened or connected) goes with `CLOSE`.
 */
export const STATE_GROUPS = {
  all: [...TCP_STATES],
  connected: TCP_STATES.filter((s) => s !== 'LISTEN' && s !== 'CLOSE' && s !== 'BOUND_INACTIVE'),
  synchronized: TCP_STATES.filter((s) => s !== 'LISTEN' && s !== 'CLOSE' && s !== 'BOUND_INACTIVE' && s !== 'SYN_SENT'),
  bucket: ['TIME_WAIT', 'SYN_RECV', 'NEW_SYN_RECV'],
  big: TCP_STATES.filter((s) => s !== 'TIME_WAIT' && s !== 'SYN_RECV' && s !== 'NEW_SYN_RECV'),
} as const satisfies Record<string, readonly TcpState[]>;

/** A group name of {@link STATE_GROUPS}. */
export type StateGroup = keyof typeof STATE_GROUPS;

/**
 * ss's default when no state is given: connected sockets except TIME_WAIT and SYN_RECV
 * (`SS_CONN` in misc/ss.c). `ss -a` is {@link STATE_GROUPS}.all, `ss -l` is LISTEN.
 */
export const SS_DEFAULT_STATES: readonly TcpState[] = STATE_GROUPS.connected.filter((s) => s !== 'TIME_WAIT' && s !== 'SYN_RECV' && s !== 'NEW_SYN_RECV');

/** ss's names for single states (besides the kernel's own, which are accepted too). */
const SS_NAMES: Record<string, readonly TcpState[]> = {
  established: ['ESTABLISHED'],
  estab: ['ESTABLISHED'],
  'syn-sent': ['SYN_SENT'],
  'syn-recv': ['SYN_RECV', 'NEW_SYN_RECV'],
  'fin-wait-1': ['FIN_WAIT1'],
  'fin-wait-2': ['FIN_WAIT2'],
  'time-wait': ['TIME_WAIT'],
  closed: ['CLOSE', 'BOUND_INACTIVE'],
  unconn: ['CLOSE', 'BOUND_INACTIVE'],
  'close-wait': ['CLOSE_WAIT'],
  'last-ack': ['LAST_ACK'],
  listening: ['LISTEN'],
  listen: ['LISTEN'],
  closing: ['CLOSING'],
};

/** Every name {@link parseStateName} accepts, for usage messages. */
export function stateNames(): string[] {
  return [...Object.keys(STATE_GROUPS), ...Object.keys(SS_NAMES).filter((n) => n !== 'estab' && n !== 'unconn' && n !== 'listen')];
}

/**
 * The states one name of ss's state filter stands for: a group (`connected`), an ss state name
 * (`close-wait`, `fin-wait-2`) or a kernel name in any case (`CLOSE_WAIT`, `fin_wait2`).
 * @returns undefined for a name that is none of these.
 */
export function parseStateName(name: string): readonly TcpState[] | undefined {
  const n = name.trim().toLowerCase();
  // Own keys only: `in` and plain indexing would take `constructor` or `__proto__` for a name.
  if (Object.hasOwn(STATE_GROUPS, n)) return STATE_GROUPS[n as StateGroup];
  if (Object.hasOwn(SS_NAMES, n)) return SS_NAMES[n];
  const kernel = n.toUpperCase().replace(/-/g, '_');
  const exact = TCP_STATES.find((s) => s === kernel || s === kernel.replace(/_(\d)$/, '$1'));
  if (exact === undefined) return undefined;
  return exact === 'SYN_RECV' ? ['SYN_RECV', 'NEW_SYN_RECV'] : [exact];
}

/**
 * The set of states of an ss-style filter: the union of `include` names, minus the `exclude`
 * names. With no `include`, the start is {@link SS_DEFAULT_STATES} — or every state when an
 * `exclude` is given, as in ss (`misc/ss.c`: `exclude` before any `state` starts from SS_ALL).
 * @throws RangeError naming the first name that is not a state or group.
 */
export function resolveStates(include: readonly string[], exclude: readonly string[] = []): Set<TcpState> {
  const pick = (name: string): readonly TcpState[] => {
    const s = parseStateName(name);
    if (s === undefined) throw new RangeError(`unknown state ${JSON.stringify(name)}; known: ${stateNames().join(', ')}`);
    return s;
  };
  const out = new Set<TcpState>(include.length > 0 ? include.flatMap(pick) : exclude.length > 0 ? STATE_GROUPS.all : SS_DEFAULT_STATES);
  for (const name of exclude) for (const s of pick(name)) out.delete(s);
  return out;
}
