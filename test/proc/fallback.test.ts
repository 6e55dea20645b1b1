// The async readers run their blocking work on helper threads; without them (worker threads
// unavailable) they fall back to the calling thread (fs.promises for the tables, the same fd
// scan for owners). Both must give the same answers as the sync twins.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { setHelperEnabled } from '../../src/proc/helper.js';
import { readTcpTables, readTcpTablesSync, socketOwners, socketOwnersSync } from '../../src/proc/index.js';
import { FIXTURES } from './fixtures.js';

describe('async readers without the helper thread', () => {
  before(() => setHelperEnabled(false));
  after(() => setHelperEnabled(true));

  it('readTcpTables reads the same rows', async () => {
    for (const root of [`${FIXTURES}basic`, `${FIXTURES}no-ipv6`]) {
      assert.deepEqual(await readTcpTables({ root }), readTcpTablesSync({ root }));
    }
    assert.deepEqual(
      (await readTcpTables({ families: [4] })).map((r) => r.local).sort(),
      readTcpTablesSync({ families: [4] }).map((r) => r.local).sort(),
    );
    await assert.rejects(readTcpTables({ root: `${FIXTURES}nope` }), { code: 'ENOENT' });
  });

  it('socketOwners finds the same owners', async () => {
    const root = `${FIXTURES}owners`;
    for (const opts of [{ root }, { root, inodes: new Set([4242, 6000]) }, { root, netnsOf: 123 }]) {
      assert.deepEqual(await socketOwners(opts), socketOwnersSync(opts));
    }
    await assert.rejects(socketOwners({ root, netnsOf: 5555 }), { code: 'ENOENT' });
  });
});
