// The frame codec (src/rpc/frame.ts): every type round-trips; truncated frames wait, malformed
// ones are EPROTO, oversized lengths EMSGSIZE before any payload is buffered; random bytes never
// crash the decoder. And live: garbage on one connection costs that connection only.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';

import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  ErrorCode,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameError,
  FrameType,
  GoawayReason,
  MAX_REQUEST_ID,
  createServer,
  encodeCancel,
  encodeError,
  encodeGoaway,
  encodePing,
  encodeRequest,
  encodeResponse,
  encodeSettings,
  type ErrorCodeName,
  type Frame,
  type GoawayReasonName,
} from '../../src/rpc/index.js';
import { RawClient, Resources, prng } from './server-helpers.js';

function header(payloadBytes: number, type: number, flags: number, id: number): Buffer {
  const b = Buffer.alloc(FRAME_HEADER_BYTES);
  b.writeUInt32BE(payloadBytes, 0);
  b[4] = type;
  b[5] = flags;
  b.writeUInt32BE(id, 6);
  return b;
}

function raw(type: number, flags: number, id: number, payload: Buffer | number[] = []): Buffer {
  const p = Buffer.from(payload);
  return Buffer.concat([header(p.length, type, flags, id), p]);
}

function decodeAll(bytes: Buffer, max?: number): Frame[] {
  return new FrameDecoder(max).push(bytes);
}

function protoError(bytes: Buffer, pattern: RegExp, code: 'EPROTO' | 'EMSGSIZE' = 'EPROTO'): void {
  assert.throws(
    () => decodeAll(bytes),
    (e: unknown) => e instanceof FrameError && e.code === code && pattern.test(e.message),
  );
}

/** One of every frame type, with edge values. */
function samples(): { bytes: Buffer; frame: Frame }[] {
  const out: { bytes: Buffer; frame: Frame }[] = [];
  const add = (bytes: Buffer, frame: Frame): void => void out.push({ bytes, frame });
  add(encodeRequest(1, 'm', Buffer.from('body')), { type: 'REQUEST', id: 1, method: 'm', body: Buffer.from('body'), idempotent: false, deadlineMs: null });
  add(encodeRequest(MAX_REQUEST_ID, 'ünïcødé', Buffer.alloc(0), { idempotent: true, deadlineMs: 1500 }), {
    type: 'REQUEST',
    id: MAX_REQUEST_ID,
    method: 'ünïcødé',
    body: Buffer.alloc(0),
    idempotent: true,
    deadlineMs: 1500,
  });
  add(encodeRequest(7, '', Buffer.from([0, 1, 2]), { deadlineMs: 0 }), { type: 'REQUEST', id: 7, method: '', body: Buffer.from([0, 1, 2]), idempotent: false, deadlineMs: 0 });
  const longMethod = 'x'.repeat(255);
  add(encodeRequest(8, longMethod, Buffer.from('b')), { type: 'REQUEST', id: 8, method: longMethod, body: Buffer.from('b'), idempotent: false, deadlineMs: null });
  add(encodeResponse(3, Buffer.from('answer')), { type: 'RESPONSE', id: 3, body: Buffer.from('answer') });
  add(encodeResponse(4, Buffer.alloc(0)), { type: 'RESPONSE', id: 4, body: Buffer.alloc(0) });
  for (const code of Object.keys(ErrorCode) as ErrorCodeName[]) {
    add(encodeError(code === 'PROTOCOL_ERROR' ? 0 : 9, code, `msg ${code}`), { type: 'ERROR', id: code === 'PROTOCOL_ERROR' ? 0 : 9, code, message: `msg ${code}` });
  }
  add(encodePing('PING', Buffer.from('abcdefgh')), { type: 'PING', id: 0, data: Buffer.from('abcdefgh') });
  add(encodePing('PONG', Buffer.from('abc')), { type: 'PONG', id: 0, data: Buffer.from([0x61, 0x62, 0x63, 0, 0, 0, 0, 0]) });
  for (const reason of Object.keys(GoawayReason) as GoawayReasonName[]) {
    add(encodeGoaway(42, reason, 60_000, `bye ${reason}`), { type: 'GOAWAY', id: 0, lastId: 42, reason, idleTimeoutMs: 60_000, message: `bye ${reason}` });
  }
  add(encodeGoaway(0, 'IDLE', 0), { type: 'GOAWAY', id: 0, lastId: 0, reason: 'IDLE', idleTimeoutMs: 0, message: '' });
  add(encodeSettings({ idleTimeoutMs: 1234, maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES, maxInFlight: 128 }), {
    type: 'SETTINGS',
    id: 0,
    idleTimeoutMs: 1234,
    maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
    maxInFlight: 128,
  });
  add(encodeCancel(5), { type: 'CANCEL', id: 5 });
  return out;
}

describe('frame codec: round trips', () => {
  it('every frame type (and every error code and GOAWAY reason) decodes to what was encoded', () => {
    const all = samples();
    const types = new Set(all.map((s) => s.frame.type));
    assert.deepEqual([...types].sort(), Object.keys(FrameType).sort(), 'the samples cover every type');
    for (const { bytes, frame } of all) assert.deepEqual(decodeAll(bytes), [frame], `round trip of ${frame.type}`);
  });

  it('a stream of frames split at every possible byte decodes the same', () => {
    const all = samples();
    const stream = Buffer.concat(all.map((s) => s.bytes));
    const want = all.map((s) => s.frame);
    for (let cut = 0; cut <= stream.length; cut++) {
      const d = new FrameDecoder();
      const got = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      assert.deepEqual(got, want, `split at ${cut}`);
      assert.equal(d.bufferedBytes, 0);
    }
    const d = new FrameDecoder();
    const oneByOne: Frame[] = [];
    for (const byte of stream) oneByOne.push(...d.push(Buffer.from([byte])));
    assert.deepEqual(oneByOne, want, 'fed one byte at a time');
  });

  it('random valid frame sequences, randomly split, round-trip (seeded)', () => {
    const rnd = prng(0x5eed);
    const all = samples();
    for (let iter = 0; iter < 300; iter++) {
      const picked = Array.from({ length: 1 + Math.floor(rnd() * 8) }, () => all[Math.floor(rnd() * all.length)] as (typeof all)[number]);
      const stream = Buffer.concat(picked.map((p) => p.bytes));
      const d = new FrameDecoder();
      const got: Frame[] = [];
      for (let at = 0; at < stream.length; ) {
        const n = 1 + Math.floor(rnd() * 40);
        got.push(...d.push(stream.subarray(at, at + n)));
        at += n;
      }
      assert.deepEqual(got, picked.map((p) => p.frame), `iteration ${iter}`);
    }
  });
});

describe('frame codec: truncated, malformed and oversized input', () => {
  it('a truncated frame is held back, not an error: no frame until the rest arrives', () => {
    const bytes = encodeRequest(1, 'method', Buffer.from('a body'));
    for (let cut = 0; cut < bytes.length; cut++) {
      const d = new FrameDecoder();
      assert.deepEqual(d.push(bytes.subarray(0, cut)), [], `prefix of ${cut} bytes`);
      assert.equal(d.bufferedBytes, cut);
    }
  });

  it('payloads too short for their type are EPROTO', () => {
    protoError(raw(FrameType.REQUEST, 0x02, 1, [0, 0, 1]), /shorter than its 4 deadline bytes/);
    protoError(raw(FrameType.REQUEST, 0, 1, []), /without a method length byte/);
    protoError(raw(FrameType.REQUEST, 0, 1, [5, 0x61, 0x62]), /method of 5 bytes runs past the payload/);
    protoError(raw(FrameType.ERROR, 0, 1, [0]), /shorter than its 2 code bytes/);
    protoError(raw(FrameType.PING, 0, 0, [1, 2, 3, 4, 5, 6, 7]), /PING payload must be 8 bytes, got 7/);
    protoError(raw(FrameType.PONG, 0, 0, [1, 2, 3, 4, 5, 6, 7, 8, 9]), /PONG payload must be 8 bytes, got 9/);
    protoError(raw(FrameType.GOAWAY, 0, 0, [0, 0, 0, 1, 1, 0, 0, 0]), /GOAWAY payload must be at least 9 bytes/);
    protoError(raw(FrameType.SETTINGS, 0, 0, Buffer.alloc(11)), /SETTINGS payload must be 12 bytes, got 11/);
    protoError(raw(FrameType.CANCEL, 0, 1, [0]), /CANCEL payload must be empty/);
  });

  it('unknown types, flags, codes, reasons and broken id rules are EPROTO', () => {
    for (const t of [0, 9, 0x7f, 0xff]) protoError(raw(t, 0, 0), new RegExp(`unknown frame type ${t}`));
    protoError(raw(FrameType.REQUEST, 0x04, 1, [0]), /unknown flags 0x4/);
    protoError(raw(FrameType.RESPONSE, 0x01, 1), /RESPONSE frame with unknown flags/);
    protoError(raw(FrameType.REQUEST, 0, 0, [0]), /REQUEST frame must have a non-zero id/);
    protoError(raw(FrameType.CANCEL, 0, 0), /CANCEL frame must have a non-zero id/);
    protoError(raw(FrameType.PING, 0, 3, Buffer.alloc(8)), /PING frame must have id 0/);
    protoError(raw(FrameType.SETTINGS, 0, 1, Buffer.alloc(12)), /SETTINGS frame must have id 0/);
    protoError(raw(FrameType.ERROR, 0, 1, [0, 99]), /unknown code 99/);
    protoError(raw(FrameType.GOAWAY, 0, 0, [0, 0, 0, 0, 77, 0, 0, 0, 0]), /unknown reason 77/);
  });

  it('an oversized length is EMSGSIZE from the 4 length bytes alone, before any payload is buffered', () => {
    const d = new FrameDecoder(1024);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(1025, 0);
    assert.throws(
      () => d.push(len),
      (e: unknown) => e instanceof FrameError && e.code === 'EMSGSIZE' && /1025 payload bytes; the maximum is 1024/.test(e.message),
    );
    assert.equal(d.bufferedBytes, 0);
    const huge = Buffer.alloc(4);
    huge.writeUInt32BE(0xffff_ffff, 0);
    assert.throws(() => new FrameDecoder().push(huge), (e: unknown) => e instanceof FrameError && e.code === 'EMSGSIZE');
    // Exactly the maximum is fine.
    assert.equal(new FrameDecoder(1024).push(encodeResponse(1, Buffer.alloc(1024), 1024)).length, 1);
  });

  it('frames before a bad one in the same chunk are handed over on the error, not dropped', () => {
    const d = new FrameDecoder();
    const good = encodeRequest(1, 'm', Buffer.from('x'));
    const bad = Buffer.from([0, 0, 0, 0, 99, 0, 0, 0, 0, 1]);
    assert.throws(
      () => d.push(Buffer.concat([good, bad])),
      (e: unknown) => e instanceof FrameError && e.code === 'EPROTO' && e.framesBefore.length === 1 && e.framesBefore[0]?.type === 'REQUEST',
    );
  });

  it('a large frame arriving in many small chunks is joined once, when complete', () => {
    const d = new FrameDecoder();
    const body = Buffer.alloc(512 * 1024, 3);
    const wire = encodeResponse(9, body);
    let frames: Frame[] = [];
    for (let at = 0; at < wire.length; at += 1000) {
      frames = d.push(wire.subarray(at, at + 1000));
      if (at + 1000 < wire.length) assert.equal(frames.length, 0);
    }
    assert.equal(frames.length, 1);
    assert.equal(d.bufferedBytes, 0);
    assert.ok(frames[0]?.type === 'RESPONSE' && frames[0].body.equals(body));
  });

  it('after an error the decoder stays failed, whatever comes next', () => {
    const d = new FrameDecoder();
    assert.throws(() => d.push(raw(42, 0, 0)), FrameError);
    assert.throws(() => d.push(encodePing('PING')), FrameError);
    assert.throws(() => d.push(Buffer.alloc(0)), FrameError);
  });

  it('encoders refuse what the decoder would reject', () => {
    assert.throws(() => encodeRequest(1, 'm', Buffer.alloc(100), { maxPayloadBytes: 50 }), (e: unknown) => e instanceof FrameError && e.code === 'EMSGSIZE');
    assert.throws(() => encodeResponse(1, Buffer.alloc(100), 50), (e: unknown) => e instanceof FrameError && e.code === 'EMSGSIZE');
    assert.throws(() => encodeRequest(0, 'm', Buffer.alloc(0)), RangeError);
    assert.throws(() => encodeRequest(MAX_REQUEST_ID + 1, 'm', Buffer.alloc(0)), RangeError);
    assert.throws(() => encodeRequest(1, 'x'.repeat(256), Buffer.alloc(0)), /at most 255/);
    assert.throws(() => encodeCancel(0), RangeError);
    assert.throws(() => new FrameDecoder(8), /maxPayloadBytes must be an integer in 16\.\./);
  });

  it('random bytes (seeded, 5000 inputs, random splits): frames or a FrameError, never anything else, never a different answer for a different split', () => {
    const rnd = prng(20240613);
    const validBytes = samples().map((s) => s.bytes);
    let errors = 0;
    let frames = 0;
    for (let iter = 0; iter < 5000; iter++) {
      // Half pure noise, half a valid frame with bytes flipped or cut: noise near the real shape
      // reaches the deeper checks.
      let input: Buffer;
      if (rnd() < 0.5) {
        input = Buffer.from(Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256)));
      } else {
        input = Buffer.from(validBytes[Math.floor(rnd() * validBytes.length)] as Buffer);
        for (let k = Math.floor(rnd() * 3); k >= 0; k--) input[Math.floor(rnd() * input.length)] = Math.floor(rnd() * 256);
        if (rnd() < 0.3) input = input.subarray(0, Math.floor(rnd() * input.length));
      }
      const whole = outcome(() => decodeAll(input, 1024));
      const d = new FrameDecoder(1024);
      const split = outcome(() => {
        const got: Frame[] = [];
        for (let at = 0; at < input.length; ) {
          const n = 1 + Math.floor(rnd() * 16);
          got.push(...d.push(input.subarray(at, at + n)));
          at += n;
          assert.ok(d.bufferedBytes <= FRAME_HEADER_BYTES + 1024, 'never buffers more than one maximal frame');
        }
        return got;
      });
      if (whole.error !== null || split.error !== null) {
        assert.ok(whole.error instanceof FrameError, `iteration ${iter}: ${String(whole.error)}`);
        assert.ok(split.error instanceof FrameError, `iteration ${iter} (split): ${String(split.error)}`);
        assert.equal(split.error.message, whole.error.message, `iteration ${iter}: same error whatever the split`);
        errors++;
      } else {
        assert.deepEqual(split.frames, whole.frames, `iteration ${iter}: same frames whatever the split`);
        frames += whole.frames.length;
      }
    }
    assert.ok(errors > 1000 && frames > 100, `exercised both outcomes (${errors} errors, ${frames} frames)`);
  });
});

function outcome(f: () => Frame[]): { frames: Frame[]; error: unknown } {
  try {
    return { frames: f(), error: null };
  } catch (error) {
    return { frames: [], error };
  }
}

describe('frame decoder, live: a protocol error closes that connection only', () => {
  const res = new Resources();
  afterEach(() => res.release());

  it('garbage, an oversized length, or a truncated frame then EOF on one connection; the other keeps being served', async () => {
    const server = res.add(createServer((req) => Buffer.from(`ok ${req.body.toString()}`), { idleTimeoutMs: 0, maxPayloadBytes: 4096 }));
    const errors: string[] = [];
    server.on('protocolError', (e) => errors.push(e.error.code));
    const { port } = await server.listen();
    const good = res.add(await RawClient.connect(port));
    good.request(1, 'm', 'before');
    assert.equal((await good.answer(1)).type, 'RESPONSE');

    // 1. Random bytes after a valid request (answered): ERROR 0 PROTOCOL_ERROR, then
    //    GOAWAY(PROTOCOL_ERROR) whose lastId covers that request, then FIN.
    const bad = res.add(await RawClient.connect(port));
    await bad.frame('SETTINGS');
    bad.request(1, 'm', 'valid first');
    await bad.answer(1);
    const rnd = prng(7);
    bad.write(Buffer.concat([raw(0x63, 0, 0), Buffer.from(Array.from({ length: 200 }, () => Math.floor(rnd() * 256)))]));
    const err = await bad.frame('ERROR', 0);
    assert.equal(err.code, 'PROTOCOL_ERROR');
    assert.match(err.message, /unknown frame type 99/);
    const g = await bad.frame('GOAWAY');
    assert.deepEqual([g.reason, g.lastId], ['PROTOCOL_ERROR', 1]);
    await bad.waitEof(2000);
    bad.end();
    await bad.waitClosed(2000);

    // 2. A length over the server's maxPayloadBytes: EMSGSIZE, no 1 GiB buffered.
    const big = res.add(await RawClient.connect(port));
    await big.frame('SETTINGS');
    big.write(header(1 << 30, FrameType.REQUEST, 0, 1));
    const e2 = await big.frame('ERROR', 0);
    assert.match(e2.message, /EMSGSIZE/);
    await big.waitEof(2000);
    big.end();

    // 3. Half a frame, then the client's FIN: not a protocol error, just a client that left; the
    //    server closes without running anything.
    const cut = res.add(await RawClient.connect(port));
    await cut.frame('SETTINGS');
    cut.write(encodeRequest(1, 'm', Buffer.from('never complete')).subarray(0, 12));
    cut.end();
    await cut.waitEof(2000);

    // The first connection was never disturbed.
    good.request(2, 'm', 'after');
    const a = await good.answer(2);
    assert.equal(a.type === 'RESPONSE' && a.body.toString(), 'ok after');
    assert.deepEqual(errors, ['EPROTO', 'EMSGSIZE']);
    assert.equal(server.stats().protocolErrors, 2);
    assert.equal(server.stats().calls, 3);
  });
});
