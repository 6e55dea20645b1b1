/** The helper thread's side of helper.ts: runs blocking procfs jobs, one at a time. */
import { parentPort } from 'node:worker_threads';

import type { HelperReply, HelperRequest } from './helper.js';
import { readProcFileSync } from './read-file.js';

// The owner scan needs koffi; loaded on the first scan so a thread that only reads files starts fast.
let fdScan: typeof import('./fd-scan.js') | undefined;

parentPort?.on('message', (req: HelperRequest) => {
  if (req.op === 'fdscan' && fdScan === undefined) {
    import('./fd-scan.js').then(
      (m) => {
        fdScan = m;
        handle(req);
      },
      (err: unknown) => parentPort?.postMessage(errorReply(req.id, err)),
    );
    return;
  }
  handle(req);
});

function errorReply(id: number, err: unknown): HelperReply {
  const e = err as NodeJS.ErrnoException;
  return { id, error: { message: e.message, name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path } };
}

function handle(req: HelperRequest): void {
  let reply: HelperReply;
  const transfer: ArrayBuffer[] = [];
  try {
    if (req.op === 'fdscan' && fdScan !== undefined) {
      const part = fdScan.runFdScanJob(req.args as import('./fd-scan.js').FdScanJob);
      transfer.push(part.inodes.buffer as ArrayBuffer, part.pids.buffer as ArrayBuffer, part.fds.buffer as ArrayBuffer);
      reply = { id: req.id, result: part };
    } else if (req.op === 'read') {
      const { bytes, length } = readProcFileSync((req.args as { path: string }).path);
      const out = new Uint8Array(length);
      out.set(bytes.subarray(0, length));
      transfer.push(out.buffer);
      reply = { id: req.id, result: out.buffer };
    } else {
      throw new Error(`unknown helper op ${String(req.op)}`);
    }
  } catch (err) {
    reply = errorReply(req.id, err);
  }
  parentPort?.postMessage(reply, transfer);
}
