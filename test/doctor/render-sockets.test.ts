import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createColors } from 'picocolors';

import { renderSockets } from '../../src/doctor/render-sockets.js';
import type { DoctorSocket } from '../../src/doctor/socket.js';

// The flat-array renderer promises: columns two spaces apart, Recv-Q/Send-Q right-aligned, no
// trailing spaces (an empty last cell writes nothing), and colours that change no character.
const SOCKETS: DoctorSocket[] = [
  { local: '127.0.0.1:5000', remote: '127.0.0.1:40000', state: 'ESTABLISHED', recvQ: 0, sendQ: 12, owner: { pid: 42, command: 'app', fd: 3 }, inode: 7, timer: { kind: 'none', remainingMs: 0, retransmits: 0 } },
  { local: '10.0.0.1:80', remote: '10.0.0.2:51234', state: 'CLOSE_WAIT', recvQ: 1234, sendQ: 0, owner: null, inode: 0, timer: { kind: 'time_wait', remainingMs: 59_000, retransmits: 0 } },
];

const ANSI = /\x1b\[[0-9;]*m/g;

describe('renderSockets: the ss-like table', () => {
  it('aligns the columns two spaces apart, numbers right-aligned, no trailing spaces', () => {
    assert.equal(
      renderSockets(SOCKETS, { owners: true }),
      [
        'State       Recv-Q  Send-Q  Local Address:Port  Peer Address:Port  Process          Timer',
        'ESTAB            0      12  127.0.0.1:5000      127.0.0.1:40000    app,pid=42,fd=3',
        'CLOSE-WAIT    1234       0  10.0.0.1:80         10.0.0.2:51234     -                time_wait 59.0s',
      ].join('\n'),
    );
  });

  it('with colours and an indent: the same characters once the colour codes are removed', () => {
    const plain = renderSockets(SOCKETS, { owners: true, indent: 2 });
    const coloured = renderSockets(SOCKETS, { owners: true, indent: 2, paint: createColors(true) });
    assert.notEqual(coloured, plain);
    assert.equal(coloured.replace(ANSI, ''), plain);
    for (const line of plain.split('\n')) {
      assert.ok(line.startsWith('  ') && !line.endsWith(' '), JSON.stringify(line));
    }
  });

  it('an empty table is the heading alone', () => {
    assert.equal(renderSockets([]), 'State  Recv-Q  Send-Q  Local Address:Port  Peer Address:Port  Timer');
  });
});
