/**
 * Node's timers hold at most 2^31−1 ms; a longer delay fires after 1 ms (with a
 * TimeoutOverflowWarning). Every duration the project takes is checked against it: rpc options,
 * the lab's `--rtt-ms` and `tcp_fin_timeout`, and the model's virtual timers, which keep Node's bound.
 */
export const MAX_TIMER_MS = 0x7fff_ffff;
