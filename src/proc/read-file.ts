import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';

import { helper } from './helper.js';

// procfs files report size 0 and seq_file returns at most about a page per read(2), so every
// reader here loops until EOF into a growing buffer.

let syncBuf = Buffer.allocUnsafe(1 << 20);

/**
 * Reads a whole procfs file into a buffer shared by all calls; returns it and the length.
 * The bytes are valid until the next call: parse them first.
 * @throws Node's fs error (`ENOENT`, `EACCES` …).
 */
export function readProcFileSync(path: string): { bytes: Buffer; length: number } {
  const fd = openSync(path, 'r');
  try {
    let used = 0;
    for (;;) {
      if (used === syncBuf.length) {
        const bigger = Buffer.allocUnsafe(syncBuf.length * 2);
        syncBuf.copy(bigger, 0, 0, used);
        syncBuf = bigger;
      }
      const n = readSync(fd, syncBuf, used, syncBuf.length - used, null);
      if (n === 0) return { bytes: syncBuf, length: used };
      used += n;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a whole procfs file without blocking the event loop: on the helper thread (helper.ts) in
 * one round trip, or with a `FileHandle.read()` loop if no thread can be started.
 * @throws Node's fs error (`ENOENT`, `EACCES` …), with its `code`.
 */
export async function readProcFile(path: string): Promise<Buffer> {
  const viaHelper = helper('read', { path });
  if (viaHelper === undefined) return readWithHandle(path);
  return Buffer.from(await viaHelper);
}

async function readWithHandle(path: string): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    let bytes = Buffer.allocUnsafe(1 << 18);
    let length = 0;
    for (;;) {
      if (length === bytes.length) {
        const bigger = Buffer.allocUnsafe(bytes.length * 2);
        bytes.copy(bigger, 0, 0, length);
        bytes = bigger;
      }
      const { bytesRead } = await fh.read(bytes, length, bytes.length - length, null);
      if (bytesRead === 0) return bytes.subarray(0, length);
      length += bytesRead;
    }
  } finally {
    await fh.close();
  }
}
