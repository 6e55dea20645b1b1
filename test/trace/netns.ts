import type { TestContext } from 'node:test';

import { createNamedNetns, deleteNamedNetns, setLinkUp } from '../../src/sys/index.js';

let seq = 0;

/**
 * A fresh named network namespace, `/run/netns/tt-test-PID-N`, with lo up, made with syscalls
 * (src/sys/netns.ts) rather than `ip netns add`; t.after deletes it even when the test fails.
 */
export function testNetns(t: TestContext): { name: string; path: string } {
  const name = `tt-test-${process.pid}-${++seq}`;
  const path = createNamedNetns(name);
  t.after(() => {
    deleteNamedNetns(name);
  });
  setLinkUp(path, 'lo');
  return { name, path };
}
