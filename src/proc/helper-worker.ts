/** The helper thread's side of helper.ts: runs blocking procfs jobs, one at a time. */
import { parentPort } from 'node:worker_threads';

import type { HelperReply, HelperRequest } from './helper.js';
import { socketOwnersSync } from './owners.js';
import { readProcFileSync } from './read-file.js';

parentPort?.on('message', (req: HelperRequest) => {
  let reply: HelperReply;
  const transfer: ArrayBuffer[] = [];
  try {
    if (req.op === 'read') {
      const { bytes, length } = readProcFileSync((req.args as { path: string }).path);
      const out = new Uint8Array(length);
      out.set(bytes.subarray(0, length));
      transfer.push(out.buffer);
      reply = { id: req.id, result: out.buffer };
    } else if (req.op === 'owners') {
      reply = { id: req.id, result: socketOwnersSync(req.args as Parameters<typeof socketOwnersSync>[0]) };
    } else {
      throw new Error(`unknown helper op ${String(req.op)}`);
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    reply = { id: req.id, error: { message: e.message, name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path } };
  }
  parentPort?.postMessage(reply, transfer);
});
