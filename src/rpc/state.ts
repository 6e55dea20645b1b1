/**
 * An explicit lifecycle: one state, a table of legal moves, and one guarded transition function
 * that refuses (and records) any other move — as grpc-js's `Subchannel.transitionToState` and
 * smoltcp's `TcpSocket::set_state` do. The client and server connections each own one.
 */

/** A move that was asked and refused, kept for diagnostics and tests. */
export interface IllegalMove<S extends string> {
  from: S;
  to: S;
  why: string;
}

/** Most refused moves kept per machine (the count goes on). */
const KEPT = 16;

export class StateMachine<S extends string> {
  #state: S;
  readonly #table: Readonly<Record<S, readonly S[]>>;
  /** The first {@link KEPT} refused moves. */
  readonly illegal: IllegalMove<S>[] = [];
  /** Refused moves in all. */
  illegalCount = 0;

  constructor(initial: S, table: Readonly<Record<S, readonly S[]>>) {
    this.#state = initial;
    this.#table = table;
  }

  get state(): S {
    return this.#state;
  }

  /**
   * Moves to `to` when the table allows it from the current state; otherwise the state stays, the
   * move is recorded with `why`, and false is returned so the caller stops.
   */
  to(to: S, why: string): boolean {
    const from = this.#state;
    if (!this.#table[from].includes(to)) {
      this.illegalCount++;
      if (this.illegal.length < KEPT) this.illegal.push({ from, to, why });
      return false;
    }
    this.#state = to;
    return true;
  }
}
