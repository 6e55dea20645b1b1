/**
 * The host's TCP settings the model honours, named as the kernel names them (`net.ipv4.*`).
 * Durations in seconds where the sysctl is in seconds.
 */
import { MAX_DELAY_MS } from './clock.js';

export interface Sysctls {
  /** `net.ipv4.tcp_fin_timeout`: how long an orphaned FIN_WAIT2 lives, s (default 60). */
  tcp_fin_timeout: number;
  /** `net.ipv4.tcp_syn_retries`: SYN retransmissions before connect() fails ETIMEDOUT (default 6). */
  tcp_syn_retries: number;
  /** `net.ipv4.tcp_synack_retries`: SYN-ACK retransmissions before a request is dropped (default 5). */
  tcp_synack_retries: number;
  /**
   * `net.ipv4.tcp_syn_linear_timeouts` (Linux 6.5+): SYN retransmissions at a steady 1 s before the
   * RTO doubles; they come on top of `tcp_syn_retries` (default 4).
   */
  tcp_syn_linear_timeouts: number;
  /** `net.ipv4.ip_local_port_range`: [low, high] of ephemeral ports (default 32768 60999). */
  ip_local_port_range: [number, number];
}

export const DEFAULT_SYSCTLS: Readonly<Sysctls> = {
  tcp_fin_timeout: 60,
  tcp_syn_retries: 6,
  tcp_synack_retries: 5,
  tcp_syn_linear_timeouts: 4,
  ip_local_port_range: [32768, 60999],
};

/**
 * Bounds of the numeric sysctls a caller may set: `tcp_fin_timeout` (s) by what a timer holds
 * (2^31−1 ms), the retries by `MAX_TCP_SYNCNT` (127, as the kernel bounds `tcp_syn_retries`).
 */
export const SYSCTL_BOUNDS = {
  tcp_fin_timeout: { min: 0, max: Math.floor(MAX_DELAY_MS / 1000) },
  tcp_syn_retries: { min: 1, max: 127 },
  tcp_synack_retries: { min: 1, max: 127 },
} as const;

/**
 * Checks and completes sysctls.
 * @throws RangeError for a value the kernel would refuse (negative counts, an empty or
 *   out-of-range port range, a fin timeout beyond what a timer holds).
 */
export function resolveSysctls(partial: Partial<Sysctls> = {}): Sysctls {
  const s: Sysctls = { ...DEFAULT_SYSCTLS, ...partial, ip_local_port_range: [...(partial.ip_local_port_range ?? DEFAULT_SYSCTLS.ip_local_port_range)] };
  const [low, high] = s.ip_local_port_range;
  if (!Number.isInteger(low) || !Number.isInteger(high) || low < 1 || high > 65535 || low > high) {
    throw new RangeError(`ip_local_port_range ${low} ${high}: need 1 <= low <= high <= 65535`);
  }
  for (const k of ['tcp_fin_timeout', 'tcp_syn_retries', 'tcp_synack_retries'] as const) {
    const { min, max } = SYSCTL_BOUNDS[k];
    if (!Number.isInteger(s[k]) || s[k] < min || s[k] > max) throw new RangeError(`${k} ${s[k]}: need an integer${k === 'tcp_fin_timeout' ? ' of seconds' : ''}, ${min}..${max}`);
  }
  if (!Number.isInteger(s.tcp_syn_linear_timeouts) || s.tcp_syn_linear_timeouts < 0 || s.tcp_syn_linear_timeouts > 127) {
    throw new RangeError(`tcp_syn_linear_timeouts ${s.tcp_syn_linear_timeouts}: need 0..127`);
  }
  return s;
}
