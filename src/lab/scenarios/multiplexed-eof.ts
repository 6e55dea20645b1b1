import { actor, contradicted, judge, scenario, unverified } from '../scenario.js';
import type { CallResult, CallValue } from '../ops.js';
import { readEof, resultField, type TraceView } from '../trace.js';
import type { CapturedSegment } from '../../tcp/index.js';

const server = actor('server');
const client = actor('client');

/**
 * Article 003's full-duplex multiplexing (seed 003-j) prescribes what an RPC client must do: many
 * requests in flight on one connection, and "once a read sees EOF, later sends fail at once". The
 * claim is judged by running that remedy, the tcp-teardown/rpc client (`createClient`, one
 * connection at most): three calls in flight, the server answers the first and closes (FIN); after
 * the client's read saw that EOF, two more calls. They must never be written into the dead
 * connection: each fails at once (`processed: 'no'`) or goes to a fresh connection.
 *
 * The naive code shows why the remedy is needed: a raw socket that has read the EOF can still
 * send(); the kernel accepts it, puts it on the wire, and the server's end answers RST.
 */
export default scenario({
  id: 'multiplexed-eof',
  article: '003',
  title: 'Pipelined requests, the server closes: the rpc client sends nothing into the dead connection; a raw send after EOF draws a RST',
  summary:
    'Naive: three requests in flight on a raw socket; the server reads once, answers one and closes (FIN); the client reads the answer and EOF, ' +
    'and its next send() is accepted by the kernel and draws a RST. Remedy: the same with the tcp-teardown/rpc client; its calls after the EOF ' +
    'must not reach the dead connection (they fail at once or go to a fresh one).',
  actors: ['server', 'client'],
  steps: [
    // The naive code: a raw socket.
    server.listen('L'),
    client.connect('c', 'L'),
    server.accept('L', 's'),
    client.write('c', 'req1'),
    client.write('c', 'req2'),
    client.write('c', 'req3').as('three in flight'),
    // One read() takes every queued byte: all three requests.
    server.read('s').as('server reads'),
    server.write('s', 'rsp1').as('server answers'),
    server.close('s').as('server closes'),
    client.drain('c', 100).as('client reads'),
    client.write('c', 'req4').as('send after EOF'),
    client.write('c', 'req5').as('send after RST'),
    // The remedy: the tcp-teardown/rpc client, one connection.
    server.rpcServe('R').as('rpc server'),
    client.rpcCalls('R', ['echo', 'hold', 'hold'], 'first').as('rpc: three in flight'),
    server.close('R#1').as('rpc: server closes'),
    client.rpcCalls('R', ['later1', 'later2'], 'all', { afterEarlier: true }).as('rpc: calls after EOF'),
  ],
  checks: {
    '003-j': (t) => {
      // The naive raw socket: why a remedy is needed.
      const sawEof = readEof(t.result('client reads'));
      const after = t.result('send after EOF');
      const next = t.result('send after RST');
      const rsts = t.rstsSent('s', 'send after EOF');
      const rstText = rsts === null ? ' (packets not captured, RSTs not traced)' : rsts.length > 0 ? ` and the server end answered ${rsts.join(', ')}` : ', no RST seen';
      const naive =
        `Naive raw socket: the client read ${res(t.result('client reads'))}, then send() ` +
        `${after.ok ? `returned ${String(after.value)}${sentData(t) ? ' (the kernel put it on the wire)' : ''}` : `failed ${after.errno}`}${rstText}; ` +
        `the next send() ${res(next)}${sawEof && after.ok ? ': the kernel does not make sends after EOF fail, the client must' : ''}.`;

      // The remedy: the rpc client's calls, and what its dead connection carried after the FIN.
      const first = calls(t.result('rpc: three in flight'), 'calls');
      const final = t.result('rpc: calls after EOF');
      const inFlight = calls(final, 'earlier');
      const later = calls(final, 'calls');
      const dead = deadConnection(t);
      const eofSeen = inFlight.slice(1).some((c) => c.errno === 'EOF');
      // A later call is kept out of the dead connection when it succeeded (only a live connection
      // answers) or failed proven unsent; 'maybe'/'yes' means it was written somewhere that broke.
      const callsKeptOut = later.length > 0 && later.every((c) => c.ok || c.processed === 'no');
      const wireKeptOut = dead.known && dead.dataAfterFin === 0 && dead.rsts.length === 0;
      const remedy =
        `Remedy, tcp-teardown/rpc client on one connection: ${first[0] ? outcomeText(first[0]) : 'no first call'} and the server closed R#1; ` +
        `the ${Math.max(0, inFlight.length - 1)} calls in flight ${inFlight.length > 1 ? inFlight.slice(1).map(outcomeText).join(', ') : 'not reported'}` +
        `${eofSeen ? ' when its read saw the EOF' : ''}; the ${later.length} calls made after that: ${later.length > 0 ? later.map(outcomeText).join(', ') : 'not reported'}` +
        `${dead.freshData ? ' (written on a fresh connection R#2)' : ''}. ` +
        (dead.known
          ? `After R#1's FIN the client sent it ${dead.afterFin.length === 0 ? 'nothing' : t.flagsText(dead.afterFin)}` +
            `${dead.dataAfterFin > 0 ? ` (${dead.dataAfterFin} with data)` : ', no data'}; R#1 sent ${dead.rsts.length > 0 ? dead.rsts.join(', ') : 'no RST'}.`
          : `What R#1 carried after its FIN is unknown (${t.captured ? 'its FIN was not seen' : (t.trace.env.captureNote ?? 'packets not captured')}).`);
      const observed = `${remedy} ${naive}`;
      // The calls' results alone can contradict; only the packets can confirm that nothing reached R#1.
      if (!callsKeptOut) return contradicted(observed);
      if (!dead.known) return unverified(observed);
      return judge(wireKeptOut, observed);
    },
  },
});

interface Outcome {
  method: string;
  ok: boolean;
  code?: string;
  processed?: string;
  errno?: string | null;
  pending?: boolean;
}

/** The outcomes an `rpcCalls` step reported under `key` (`calls` or `earlier`). */
function calls(r: CallResult, key: 'calls' | 'earlier'): Outcome[] {
  const list = resultField(r, key);
  if (!Array.isArray(list)) return [];
  return list.map((v: CallValue): Outcome => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return { method: '?', ok: false, pending: true };
    return {
      method: String(v.method),
      ok: v.ok === true,
      ...(typeof v.code === 'string' ? { code: v.code } : {}),
      ...(typeof v.processed === 'string' ? { processed: v.processed } : {}),
      ...(typeof v.errno === 'string' ? { errno: v.errno } : {}),
    };
  });
}

function outcomeText(c: Outcome): string {
  if (c.pending) return 'pending';
  if (c.ok) return `${c.method} answered`;
  return `${c.method} failed ${c.code ?? '?'} (processed '${c.processed ?? '?'}'${c.errno ? `, ${c.errno}` : ''})`;
}

/**
 * What the rpc client's end of R#1 sent after R#1's FIN reached it, from the captured segments of
 * the server's close to the end; `known` is false without packets or without that FIN.
 */
function deadConnection(t: TraceView): { known: boolean; afterFin: CapturedSegment[]; dataAfterFin: number; rsts: string[]; freshData: boolean } {
  const segs = t.segments('rpc: server closes', 'rpc: calls after EOF');
  const finAt = segs.findIndex((s) => t.from('R#1', [s]).length === 1 && s.flags.includes('FIN'));
  const known = t.captured && t.addr('R#1') !== undefined && finAt >= 0;
  const afterFin = known ? t.from('~R#1', segs.slice(finAt + 1)) : [];
  const rsts = t.rstsSent('R#1', 'rpc: server closes', 'rpc: calls after EOF') ?? [];
  const freshData = t.addr('R#2') !== undefined && t.from('~R#2', t.segments('rpc: calls after EOF')).some((s) => s.length > 0);
  return { known, afterFin, dataAfterFin: afterFin.filter((s) => s.length > 0).length, rsts, freshData };
}

function res(r: CallResult): string {
  const sig = r.sigpipe ? ' + SIGPIPE' : '';
  if (!r.ok) return `failed ${r.errno}${sig}`;
  const v = r.value;
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    if (v.eof === true && v.bytes === 0) return '0 (EOF)';
    const text = typeof v.text === 'string' && v.text.length > 0 ? ` "${v.text}"` : '';
    return `${String(v.bytes)} B${text}${v.eof === true ? ' then EOF' : ''}`;
  }
  return `returned ${String(v)}${sig}`;
}

/** The first send after EOF put a data segment on the wire (false when not captured). */
function sentData(t: TraceView): boolean {
  return t.from('c', t.segments('send after EOF')).some((s) => s.length > 0);
}
