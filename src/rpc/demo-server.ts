/**
 * The server half of `teardown rpc-demo` (see demo.ts), a process of its own so the idle-close
 * race runs between two processes as in seed 003. It counts every call it runs by the call's id.
 *
 * argv: idle timeout (ms). IPC: sends `{ port }` when listening; answers `{ cmd: 'report' }` with
 * `{ counts: [id, n][], stats: ServerStats }`; closes (GOAWAY, drain) and exits on disconnect or
 * SIGTERM (the signal a process manager sends first).
 */
import { createServer } from './server.js';

const idleTimeoutMs = Number(process.argv[2]);
const counts = new Map<string, number>();
const server = createServer(
  (request) => {
    const id = request.body.toString('utf8');
    counts.set(id, (counts.get(id) ?? 0) + 1);
    return Buffer.from(`done ${id}`);
  },
  { idleTimeoutMs },
);
const { port } = await server.listen(0, '127.0.0.1');
process.on('message', (msg: { cmd: string }) => {
  if (msg.cmd === 'report') process.send?.({ counts: [...counts], stats: server.stats() });
});
const shutdown = (): void => {
  void server.close({ deadlineMs: 500 }).finally(() => process.exit(0));
};
process.on('disconnect', shutdown);
process.on('SIGTERM', shutdown);
process.send?.({ port });
