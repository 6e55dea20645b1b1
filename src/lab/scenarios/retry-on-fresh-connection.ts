import { actor, judge, scenario, wait } from '../scenario.js';
import type { CallResult } from '../ops.js';
import { readBytes, resultField } from '../trace.js';

const server = actor('server');
const client = actor('client');

/**
 * Article 003's answer (seed 003-k): retry at the RPC layer. The naive client makes its call on a
 * pooled connection the idle server has already closed: the request is accepted by the client's
 * kernel, the server's kernel answers RST, and the response read gets EOF — attempt 1 fails. The
 * remedy retries the call on a fresh connection and gets the answer.
 *
 * The retry is safe here only because the evidence says the request was never processed: the
 * server's socket was closed before the request arrived (it answered RST, nothing was read). A
 * call that may have been processed (EOF after the server read it) may be retried only if it is
 * idempotent.
 */
export default scenario({
  id: 'retry-on-fresh-connection',
  article: '003',
  title: 'A call on a connection the server reaped fails; the retry on a fresh connection succeeds',
  summary:
    'The server closes an idle pooled connection. The client calls on it: write() succeeds, a RST comes back, the read gets EOF. ' +
    'The retry opens a new connection, sends the same call and reads the answer.',
  actors: ['server', 'client'],
  steps: [
    server.listen('L'),
    client.connect('c1', 'L'),
    server.accept('L', 's1'),
    // The idle server reaps the pooled connection before the client's next call.
    server.close('s1').as('server reaps'),
    // Past the ~40 ms delayed ACK: FIN in, c1 CLOSE_WAIT — as a pool would hold it.
    wait(60, 'pooled and closed'),
    client.write('c1', 'call').as('attempt 1: send'),
    client.read('c1', { waitMs: 100 }).as('attempt 1: response'),
    client.close('c1').as('attempt 1: discard'),
    // The retry: a fresh connection, the same call.
    client.connect('c2', 'L').as('attempt 2: connect'),
    server.accept('L', 's2'),
    client.write('c2', 'call').as('attempt 2: send'),
    server.read('s2', { waitMs: 100 }).as('server reads call'),
    server.write('s2', 'answer').as('server answers'),
    client.read('c2', { waitMs: 100 }).as('attempt 2: response'),
  ],
  checks: {
    '003-k': (t) => {
      const send1 = t.result('attempt 1: send');
      const resp1 = t.result('attempt 1: response');
      const resp2 = t.result('attempt 2: response');
      const rsts = t.rstsSent('s1', 'attempt 1: send', 'attempt 1: response');
      const closedBefore = Math.round(t.step('attempt 1: send').startMs - t.step('server reaps').startMs);
      const text2 = textOf(resp2);
      const gotAnswer = text2 === 'answer';
      const ms = Math.round(t.step('attempt 2: response').after.atMs - t.step('attempt 1: response').after.atMs);
      const rstText =
        rsts === null
          ? 'packets not captured, RSTs not traced'
          : rsts.length > 0
            ? `the server end, close()d ${closedBefore} ms before the call was sent, answered ${rsts.join(', ')}`
            : 'no RST seen';
      return judge(
        send1.ok && !hasBytes(resp1) && gotAnswer,
        `attempt 1 on the reaped connection: send() returned ${send1.ok ? String(send1.value) : send1.errno}, response ${res(resp1)} (${rstText}); ` +
          `attempt 2 on a fresh connection: response ${res(resp2)} ${ms} ms later`,
      );
    },
  },
});

function textOf(r: CallResult): string | null {
  const text = resultField(r, 'text');
  return r.ok && typeof text === 'string' ? text : null;
}

function hasBytes(r: CallResult): boolean {
  return readBytes(r) > 0;
}

function res(r: CallResult): string {
  if (!r.ok) return `failed ${r.errno}`;
  const v = r.value;
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    if (v.eof === true && v.bytes === 0) return 'EOF (read returned 0)';
    return `"${String(v.text)}" (${String(v.bytes)} B)`;
  }
  return String(v);
}
