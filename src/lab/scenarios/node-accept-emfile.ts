import { actor, scenario, wait } from '../scenario.js';

const server = actor('server');
const client = actor('client');

/**
 * Seed 001-f in Node's own behaviour: a node:net server out of descriptors. libuv does not leave
 * the connection waiting in the queue as C code does: on EMFILE it closes a descriptor it kept in
 * reserve, accepts the pending connections and closes them at once (`uv__emfile_trick()` in
 * libuv's src/unix/stream.c). The scenario records whether node:net surfaces the EMFILE at all
 * (on Node 20 it emits no 'error' event: the server cannot even count the failures — which is
 * why the rpc server runs an accept loop of its own, src/rpc/accept-loop.ts).
 */
export default scenario({
  id: 'node-accept-emfile',
  article: '001',
  title: 'accept() failing with EMFILE in a node:net server',
  summary:
    'A node:net server whose process is out of descriptors gets a connection that has sent data. ' +
    'What does the client see, and does the server recover once descriptors are free?',
  actors: ['server', 'client'],
  steps: [
    server.nodeServe('L', 'close-on-end').as('listening'),
    server.limitFds(0).as('limited'),
    client.connect('c', 'L').as('connected'),
    client.write('c', 'ping').as('written'),
    // libuv's accept runs on the server's next event-loop turn; give it time and the packets time.
    wait(100, 'after accept attempt'),
    server.nodeEvents('L').as('server events'),
    client.read('c', { waitMs: 100 }).as('client read'),
    server.unlimitFds().as('descriptors free'),
    client.connect('d', 'L').as('second connection'),
    client.write('d', 'ping'),
    wait(50),
    server.nodeEvents('L').as('server events after'),
    client.close('d'),
    client.close('c'),
    wait(100, 'end'),
  ],
  // The article's server is C: Node's libuv answers EMFILE with its own policy (accept with a
  // spare descriptor, close at once). Per the SEEDS rules that is a note beside 001-f's verdict,
  // never a contradiction of it.
  checks: {},
  notes: {
    '001-f': (t) => {
      const events = (t.result('server events').value as string[] | undefined) ?? [];
      const queued = t.sock('after accept attempt', '~c');
      const later = (t.result('server events after').value as string[] | undefined) ?? [];
      const recovered = later.some((e) => e.startsWith('connection:'));
      const segs = t.segments('connected', 'client read');
      const fin = t.from('~c', segs).find((x) => x.flags.includes('FIN'));
      const rsts = t.rstsSent('~c', 'connected', 'client read');
      const rstsOnPing = t.rstsSent('~c', 'written');
      const read = t.result('client read');
      const readText = read.ok ? ((read.value as { eof?: boolean } | undefined)?.eof ? 'EOF' : 'data') : read.errno;
      const fate = queued
        ? `waited in the queue as ${queued.state}`
        : `did not wait: ${
            t.captured ? `the server end sent ${fin ? 'FIN' : 'no FIN'}, then` : `(${t.trace.env.captureNote ?? 'packets not captured'}) the server end sent`
          }${rstsOnPing && rstsOnPing.length > 0 ? ` ${rstsOnPing.join(', ')} as the client's "ping" came` : rsts && rsts.length > 0 ? ` ${rsts.join(', ')}` : ' no RST'}${events.length === 0 ? ', before the application saw any event' : ''}`;
      return (
        `node:net server (libuv), out of descriptors: the connection ${fate}; server events [${events.join(', ') || 'none'}]; ` +
        `client read → ${readText}; once descriptors were free a new connection was ${recovered ? 'accepted' : 'not accepted'}`
      );
    },
  },
});
