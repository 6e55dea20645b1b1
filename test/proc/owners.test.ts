import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  readSocketObservations,
  readSocketObservationsSync,
  socketInodeOfLink,
  socketOwners,
  socketOwnersSync,
  toObservation,
  type TcpRow,
} from '../../src/proc/index.js';
import type { SocketOwner } from '../../src/tcp/observation.js';
import { FIXTURES } from './fixtures.js';

const root = `${FIXTURES}owners`;

const nginx3: SocketOwner = { pid: 123, command: 'nginx', fd: 3 };
const nginx4: SocketOwner = { pid: 123, command: 'nginx', fd: 4 };
const worker5: SocketOwner = { pid: 456, command: 'node worker', fd: 5 };
const worker7: SocketOwner = { pid: 456, command: 'node worker', fd: 7 };
const otherNs3: SocketOwner = { pid: 789, command: 'other-ns', fd: 3 };

describe('socketOwners on a fixture tree (test/fixtures/proc/owners)', () => {
  it('maps every socket inode to all its holders, ordered by pid then fd; skips non-sockets and non-pids', async () => {
    const scan = await socketOwners({ root });
    assert.deepEqual(
      scan.owners,
      new Map([
        [4242, [nginx3, worker5]],
        [4243, [nginx4]],
        [5000, [worker7]],
        [6000, [otherNs3]],
      ]),
    );
    assert.equal(scan.scannedPids, 3);
    assert.equal(scan.vanishedPids, 1, 'pid 1000 has no fd directory: it exited mid-scan');
    assert.equal(scan.unreadablePids, 0);
  });

  it('inodes restricts the result', async () => {
    const scan = await socketOwners({ root, inodes: new Set([4243, 6000, 999]) });
    assert.deepEqual(scan.owners, new Map([[4243, [nginx4]], [6000, [otherNs3]]]));
  });

  it('an empty inode set answers at once, scanning nothing', async () => {
    const empty = { owners: new Map(), scannedPids: 0, unreadablePids: 0, vanishedPids: 0 };
    assert.deepEqual(await socketOwners({ root, inodes: new Set() }), empty);
    assert.deepEqual(socketOwnersSync({ root: `${FIXTURES}nope`, inodes: new Set() }), empty);
  });

  it('netnsOf keeps only processes in that pid\'s network namespace', async () => {
    const scan = await socketOwners({ root, netnsOf: 123 });
    assert.deepEqual([...scan.owners.keys()].sort(), [4242, 4243, 5000]);
    assert.equal(scan.scannedPids, 2);
    await assert.rejects(socketOwners({ root, netnsOf: 5555 }), { code: 'ENOENT' });
  });

  it('the sync twin gives the same results', async () => {
    for (const opts of [{ root }, { root, inodes: new Set([4242]) }, { root, netnsOf: 456 }]) {
      assert.deepEqual(socketOwnersSync(opts), await socketOwners(opts));
    }
  });

  it('a root that does not exist is an error', async () => {
    await assert.rejects(socketOwners({ root: `${FIXTURES}nope` }), { code: 'ENOENT' });
    assert.throws(() => socketOwnersSync({ root: `${FIXTURES}nope` }), { code: 'ENOENT' });
  });
});

describe('socketInodeOfLink', () => {
  it('reads socket:[N] and nothing else', () => {
    assert.equal(socketInodeOfLink('socket:[4242]'), 4242);
    assert.equal(socketInodeOfLink('socket:[0]'), 0);
    for (const t of ['socket:[]', 'socket:[12', 'socket:[1a]', 'pipe:[4242]', 'anon_inode:[eventpoll]', '/dev/null', '']) {
      assert.equal(socketInodeOfLink(t), -1, t);
    }
  });
});

describe('toObservation', () => {
  const row: TcpRow = {
    family: 4,
    local: '127.0.0.1:8080',
    remote: '127.0.0.1:40982',
    localAddress: '127.0.0.1',
    localPort: 8080,
    remoteAddress: '127.0.0.1',
    remotePort: 40982,
    state: 'ESTABLISHED',
    sendQ: 5,
    recvQ: 7,
    timer: { kind: 'retransmit', remainingMs: 200, retransmits: 1 },
    uid: 0,
    inode: 4242,
  };
  const owners = new Map([[4242, [nginx3, worker5]]]);

  it('takes the first holder and the row\'s fields', () => {
    assert.deepEqual(toObservation(row, owners), {
      local: '127.0.0.1:8080',
      remote: '127.0.0.1:40982',
      state: 'ESTABLISHED',
      recvQ: 7,
      sendQ: 5,
      owner: nginx3,
      inode: 4242,
      timer: { kind: 'retransmit', remainingMs: 200, retransmits: 1 },
    });
  });

  it('owner is null for inode 0 and for an inode nobody holds', () => {
    assert.equal(toObservation({ ...row, inode: 0 }, new Map([[0, [nginx3]]])).owner, null);
    assert.equal(toObservation({ ...row, inode: 77 }, owners).owner, null);
  });

  it('does not share mutable parts with the row or the owner map', () => {
    const obs = toObservation(row, owners);
    assert.notEqual(obs.timer, row.timer);
    assert.notEqual(obs.owner, nginx3);
  });
});

describe('readSocketObservations on the fixture tree', () => {
  it('joins rows and owners', async () => {
    const snap = await readSocketObservations({ root });
    assert.deepEqual(
      snap.observations.map((o) => [o.local, o.state, o.inode, o.owner?.pid ?? null]),
      [
        ['127.0.0.1:8080', 'LISTEN', 4242, 123],
        ['127.0.0.1:8080', 'ESTABLISHED', 4243, 123],
        ['127.0.0.1:8081', 'CLOSE_WAIT', 5000, 456],
        ['127.0.0.1:8082', 'ESTABLISHED', 6000, 789],
        ['127.0.0.1:8083', 'ESTABLISHED', 7777, null],
        ['127.0.0.1:58346', 'TIME_WAIT', 0, null],
      ],
    );
    assert.equal(snap.vanishedPids, 1);
    assert.deepEqual(readSocketObservationsSync({ root }), snap);
  });
});
