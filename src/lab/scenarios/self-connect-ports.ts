import { actor, scenario } from '../scenario.js';
import { resultField } from '../trace.js';

const client = actor('client');

/**
 * Seeds 004-m/004-p in their accidental form: connect() to a local port nobody listens on picks an
 * ephemeral source port, and self-connects when it picks the destination port itself. Linux's
 * `__inet_hash_connect()` tries ports at even offsets from the range start first and leaves the
 * odd ones to bind(0) (`inet_csk_get_port()`), so with a 2-port range connect() to the
 * even port self-connects every time and to the odd one never.
 */
export default scenario({
  id: 'self-connect-ports',
  article: '004',
  title: 'Which ports a connect() can self-connect on',
  summary: 'With a 2-port ephemeral range, the client connects twice to the port at offset 0 and twice to the one at offset 1, no listener on either.',
  actors: ['client'],
  localPorts: 2,
  steps: [client.connectScan('e', 0, 2).as('even port'), client.connectScan('o', 1, 2).as('odd port')],
  checks: {},
  findings: [
    {
      id: 'self-connect-parity',
      fact:
        'connect() picks even offsets of ip_local_port_range first (__inet_hash_connect()), so it can self-connect only on those ports.',
      claims: ['004-m'],
      check: (t) => {
        const scan = (label: string): string | null => {
          const r = t.result(label);
          const ports = resultField(r, 'sourcePorts');
          if (!r.ok || !Array.isArray(ports)) return null;
          const range = t.trace.env.ports ? ports.map((p) => Number(p) - (t.trace.env.ports as [number, number])[0]) : ports.map(Number);
          const odd = range.filter((x) => x % 2 !== 0).length;
          return `to offset ${Number(resultField(r, 'port')) - (t.trace.env.ports?.[0] ?? 0)}: ${resultField(r, 'selfConnects')}/${resultField(r, 'tries')} self-connects, source offsets ${[...new Set(range)].sort((a, b) => a - b).join(',')}${odd > 0 ? ` (${odd} odd)` : ''}`;
        };
        const e = scan('even port');
        const o = scan('odd port');
        return e && o ? `${e}; ${o}` : null;
      },
    },
  ],
});
