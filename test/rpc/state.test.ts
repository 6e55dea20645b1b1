/**
 * The connections' lifecycles as tables (src/rpc/state.ts): the guarded transition refuses and
 * records illegal moves, and both tables end every path in `closed`, which is terminal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StateMachine } from '../../src/rpc/state.js';
import { CLIENT_CONNECTION_TRANSITIONS } from '../../src/rpc/connection.js';
import { SERVER_CONNECTION_TRANSITIONS } from '../../src/rpc/server-connection.js';

test('a refused move leaves the state and is recorded with its reason', () => {
  const m = new StateMachine('connecting', CLIENT_CONNECTION_TRANSITIONS);
  assert.equal(m.to('ready', 'SETTINGS before TCP?'), false);
  assert.equal(m.state, 'connecting');
  assert.deepEqual(m.illegal, [{ from: 'connecting', to: 'ready', why: 'SETTINGS before TCP?' }]);
  const path = ['handshake', 'ready', 'draining', 'closing', 'closed'] as const;
  for (const s of path) assert.equal(m.to(s, 'normal life'), true, s);
  assert.equal(m.to('ready', 'reuse a closed connection'), false);
  assert.equal(m.state, 'closed');
  assert.equal(m.illegalCount, 2);
});

for (const [name, table] of [
  ['client', CLIENT_CONNECTION_TRANSITIONS],
  ['server', SERVER_CONNECTION_TRANSITIONS],
] as const) {
  test(`${name} connection: closed is terminal and reachable from every state, and no move leads back to the start`, () => {
    const moves = table as Readonly<Record<string, readonly string[]>>;
    const states = Object.keys(moves);
    const start = states[0] as string;
    assert.deepEqual([...(moves.closed ?? ['missing'])], []);
    for (const s of states) {
      const to = moves[s] ?? [];
      if (s !== 'closed') assert.ok(to.includes('closed'), `${s} cannot fail to closed`);
      assert.ok(!to.includes(start), `${s} leads back to ${start}`);
      for (const t of to) assert.ok(states.includes(t), `${s} → unknown state ${t}`);
    }
  });
}
