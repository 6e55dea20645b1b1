import type { TcpState } from '../../tcp/state.js';
import type { ActorOp, CallResult } from '../ops.js';

/** Runner → peer: one op, with what the runner resolved (addresses, another process's fd). */
export type PeerRequest =
  | { id: number; kind: 'op'; op: ActorOp; address?: { address: string; port: number }; source?: { pid: number; fd: number } }
  | { id: number; kind: 'describe' };

/** A socket a peer holds under a scenario name. */
export interface HeldSocket {
  name: string;
  fd: number;
  inode: number;
  local: string | null;
  remote: string | null;
  /** From TCP_INFO: known even when the socket has left /proc/net/tcp (CLOSE). */
  state: TcpState | null;
  /** Backlog given to listen(), for LISTEN sockets. */
  backlog?: number;
}

/** Peer → runner. */
export type PeerResponse =
  | { id: number; kind: 'result'; result: CallResult }
  | { id: number; kind: 'describe'; sockets: HeldSocket[] }
  | { id: number; kind: 'error'; message: string };
