/** What the timeline's magenta lines keep of the traced events (TIMELINE_LEGEND), as a table. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kernelEvents } from '../../src/lab/report/text.js';
import type { TcpState } from '../../src/tcp/index.js';
import type { TraceReset, TraceTransition } from '../../src/lab/trace.js';

/** Moves of socket `c` in step 1 along `path` (`ESTABLISHED FIN_WAIT1 …`). */
function moves(path: string): TraceTransition[] {
  const states = path.split(' ') as TcpState[];
  return states.slice(1).map((to, i) => ({ epochMs: i, socket: 'c', from: states[i] as TcpState, to, step: 1 }));
}

const table: { name: string; path: string; before?: string; after?: string; shown: boolean }[] = [
  { name: 'connect() through SYN_SENT', path: 'CLOSE SYN_SENT ESTABLISHED', after: 'ESTABLISHED', shown: false },
  { name: 'an accepted child through SYN_RECV', path: 'LISTEN SYN_RECV ESTABLISHED', after: 'ESTABLISHED', shown: false },
  { name: 'a whole active close into the TIME_WAIT row', path: 'ESTABLISHED FIN_WAIT1 FIN_WAIT2 CLOSE', before: 'ESTABLISHED', after: 'TIME_WAIT', shown: false },
  { name: "an active close's rest from the FIN_WAIT1 row into the FIN_WAIT2 timewait row", path: 'FIN_WAIT1 FIN_WAIT2 CLOSE', before: 'FIN_WAIT1', after: 'FIN_WAIT2', shown: false },
  { name: 'the same rest with no timewait socket left', path: 'FIN_WAIT1 FIN_WAIT2 CLOSE', before: 'FIN_WAIT1', shown: true },
  { name: 'a whole passive close, the socket gone', path: 'CLOSE_WAIT LAST_ACK CLOSE', before: 'CLOSE_WAIT', shown: false },
  { name: 'a single move the rows show', path: 'ESTABLISHED CLOSE_WAIT', before: 'ESTABLISHED', after: 'CLOSE_WAIT', shown: false },
  { name: 'a passing state the rows cannot show', path: 'FIN_WAIT1 CLOSING CLOSE', before: 'FIN_WAIT1', after: 'TIME_WAIT', shown: true },
];

for (const row of table) {
  test(`kernelEvents: ${row.name} is ${row.shown ? 'shown' : 'not repeated'}`, () => {
    const text = kernelEvents({ transitions: moves(row.path), resets: null }, 1, () => row.before, () => row.after);
    assert.equal(text, row.shown ? `c ${row.path.replaceAll(' ', '→')}` : '');
  });
}

test('kernelEvents: RSTs sent in the step with their reason; received ones and other steps left out', () => {
  const resets: TraceReset[] = [
    { epochMs: 1, socket: '~c', direction: 'sent', reason: 'TCP_ABORT_ON_CLOSE', state: 'ESTABLISHED', step: 1 },
    { epochMs: 2, socket: 'c', direction: 'received', reason: null, state: null, step: 1 },
    { epochMs: 3, socket: 'd', direction: 'sent', reason: null, state: null, step: 2 },
  ];
  assert.equal(kernelEvents({ transitions: null, resets }, 1), '~c sent RST (TCP_ABORT_ON_CLOSE)');
  assert.equal(kernelEvents({ transitions: null, resets }, 2), 'd sent RST');
});
