/**
 * The sysctls a model run can be given (`teardown lab --backend model --sysctl NAME=VALUE`), by
 * their kernel names, with the ranges the model accepts. Pure: parsing and checking only.
 */
import { SYSCTL_BOUNDS, type Sysctls } from '../../model/index.js';

/** A sysctl the model honours: which field of the model's {@link Sysctls} it sets, and its range. */
export interface ModelSysctl {
  key: 'tcp_fin_timeout' | 'tcp_syn_retries' | 'tcp_synack_retries';
  min: number;
  max: number;
  unit: 's' | 'count';
  what: string;
}

/** The model's numeric sysctls, with the bounds the model itself checks (`SYSCTL_BOUNDS`). */
export const MODEL_SYSCTLS: Readonly<Record<string, ModelSysctl>> = {
  'net.ipv4.tcp_fin_timeout': { key: 'tcp_fin_timeout', ...SYSCTL_BOUNDS.tcp_fin_timeout, unit: 's', what: 'how long an orphaned FIN_WAIT2 lives' },
  'net.ipv4.tcp_syn_retries': { key: 'tcp_syn_retries', ...SYSCTL_BOUNDS.tcp_syn_retries, unit: 'count', what: 'SYN retransmissions before connect() fails ETIMEDOUT' },
  'net.ipv4.tcp_synack_retries': { key: 'tcp_synack_retries', ...SYSCTL_BOUNDS.tcp_synack_retries, unit: 'count', what: 'SYN-ACK retransmissions before a request is dropped' },
};

/** Why a sysctl assignment was refused, in one line for a person. */
export class SysctlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SysctlError';
  }
}

/**
 * Parses `NAME=VALUE` (`net.ipv4.tcp_fin_timeout=60`; the `net.ipv4.` prefix may be left out).
 * @throws SysctlError for a malformed assignment, a sysctl the model does not know, or a value
 *   outside its range.
 */
export function parseSysctl(text: string): { name: string; value: number } {
  const m = /^([a-z0-9_.]+)=(-?\d+)$/.exec(text.trim());
  if (m === null) throw new SysctlError(`--sysctl ${JSON.stringify(text)}: expected NAME=INTEGER, e.g. net.ipv4.tcp_fin_timeout=60`);
  const raw = m[1] as string;
  const name = raw.includes('.') ? raw : `net.ipv4.${raw}`;
  const spec = MODEL_SYSCTLS[name];
  if (spec === undefined) throw new SysctlError(`--sysctl ${raw}: the model knows only ${Object.keys(MODEL_SYSCTLS).join(', ')}`);
  const value = Number(m[2]);
  if (!Number.isSafeInteger(value) || value < spec.min || value > spec.max) {
    throw new SysctlError(`--sysctl ${name}=${m[2]} (${spec.what}): need an integer in ${spec.min}..${spec.max}${spec.unit === 's' ? ' (seconds)' : ''}`);
  }
  return { name, value };
}

/**
 * The model's settings for a run: the scenario's sysctls, then the overrides.
 * @returns the settings, or the name of a sysctl the model does not honour.
 */
export function modelSysctls(all: Readonly<Record<string, number>>): { ok: true; sysctls: Partial<Sysctls> } | { ok: false; unknown: string } {
  const out: Partial<Sysctls> = {};
  for (const [name, value] of Object.entries(all)) {
    const spec = MODEL_SYSCTLS[name];
    if (spec === undefined) return { ok: false, unknown: name };
    out[spec.key] = value;
  }
  return { ok: true, sysctls: out };
}
