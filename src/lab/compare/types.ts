/**
 * The differential check's shapes (issue 11): facts compared between two traces of one scenario
 * (the kernel's, as recorded or run now, and the model's), what agreed, and every mismatch with
 * its reason.
 */

/**
 * What a compared fact is about:
 * - `state`: a named socket's state after a step (or its absence from the tables);
 * - `recvQ`, `sendQ`: its Recv-Q / Send-Q after a step, when both traces have it;
 * - `result`: a call's outcome (ok or errno, SIGPIPE; bytes and EOF for read/drain/write);
 * - `transition`: one move in a socket's sequence of state changes;
 * - `segment`: one segment of a connection, in order (flags, relative seq/ack, length, RST reason);
 * - `segmentTime`: a segment both sent, its time since the last event, within packetdrill's tolerance.
 */
export type FactKind = 'state' | 'recvQ' | 'sendQ' | 'result' | 'transition' | 'segment' | 'segmentTime';

export const FACT_KINDS: readonly FactKind[] = ['state', 'recvQ', 'sendQ', 'result', 'transition', 'segment', 'segmentTime'];

/** Column heads of the fact kinds (text and HTML reports), short enough for 120 columns. */
export const KIND_HEAD: Readonly<Record<FactKind, string>> = {
  state: 'state',
  recvQ: 'Recv-Q',
  sendQ: 'Send-Q',
  result: 'result',
  transition: 'moves',
  segment: 'segment',
  segmentTime: 'time',
};

/** How many facts of a kind were compared and how many agreed. */
export interface Tally {
  compared: number;
  agreed: number;
}

/** Why the model disagrees: a known gap of the model (docs/model.md, "Not modelled yet"), or nothing known. */
export interface MismatchReason {
  /** The gap's id (`send-buffer`, `sack-ofo` …), or `unexplained`. */
  gap: string;
  /** One line: the gap and the evidence that ties this mismatch to it. */
  text: string;
}

/** One fact the two traces disagree on. */
export interface Mismatch {
  scenario: string;
  kind: FactKind;
  /** Index of the step (the kernel's when the two differ), or null for a fact of the whole run. */
  step: number | null;
  /** The socket (`c`, `~c`, `L`), or the connection for segments (`c>~c`, the sender first). */
  socket: string | null;
  /** The kernel's value, `—` when the kernel has none. */
  kernel: string;
  /** The model's value, `—` when the model has none. */
  model: string;
  reason: MismatchReason;
}

/** One scenario's comparison. */
export interface ScenarioComparison {
  scenario: string;
  kinds: Record<FactKind, Tally>;
  compared: number;
  agreed: number;
  mismatches: Mismatch[];
  /** What was not compared and why (packets not captured in one trace, transitions not traced). */
  notes: string[];
}

/** A scenario left out of the comparison, and why (the model does not run it, no kernel trace). */
export interface SkippedComparison {
  scenario: string;
  reason: string;
}

/** The comparison of several scenarios. */
export interface Comparison {
  scenarios: ScenarioComparison[];
  skipped: SkippedComparison[];
  kinds: Record<FactKind, Tally>;
  compared: number;
  agreed: number;
  /** Mismatches per reason (`gap` id → count), `unexplained` included. */
  reasons: Record<string, number>;
}

/** Two traces that are not of the same scenario, or not comparable step by step. */
export class CompareError extends Error {
  override name = 'CompareError';
}
