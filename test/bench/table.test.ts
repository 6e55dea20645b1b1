import assert from 'node:assert/strict';
import { test } from 'node:test';

import { fittedTable } from '../../bench/lib-table.js';

const head = ['contender', 'calls', 'failed', 'told not run', 'told may have run', 'run twice', 'p99 ms', 'errors'];
const rows = [
  ['tcp-teardown rpc (3 endpoints, p2c)', '965772', '125', '0', '125', '0', '14.1', 'CONNECTION_LOST×125'],
  ['undici 7 Agent (keep-alive)', '748366', '157', '0', '157', '0', '27.7', 'ECONNRESET×102 UND_ERR_SOCKET×55'],
];
const aligns = head.map((_, i) => (i === 0 ? 'left' : 'right') as 'left' | 'right');
const widthOf = (text: string): number => Math.max(...text.split('\n').map((l) => [...l].length));

test('a bench table that fits is one table, every cell in it', () => {
  const text = fittedTable(head, rows, aligns, 400);
  assert.equal(text.split('\n\n').length, 1);
  for (const cell of [...head, ...rows.flat()]) assert.ok(text.includes(cell), cell);
});

test('a bench table wider than the terminal is split into tables that fit, each repeating the row names', () => {
  for (const width of [80, 100, 120]) {
    const text = fittedTable(head, rows, aligns, width);
    assert.ok(widthOf(text) <= width, `width ${widthOf(text)} > ${width}`);
    const parts = text.split('\n\n');
    assert.ok(parts.length > 1);
    for (const part of parts) for (const r of rows) assert.ok(part.includes(r[0] as string));
    for (const cell of [...head, ...rows.flat()]) assert.ok(text.includes(cell), cell);
  }
});
