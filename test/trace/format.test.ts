import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { parseEventFormat, parseEventHeader, parsePageHeader, parsePrintSymbolic, TraceFormatError } from '../../src/trace/index.js';
import { RST_REASONS, TCP_STATES, isKnownRstReason, rstReasonMeaning } from '../../src/tcp/index.js';

import { fixtureText as fixture } from './fixtures.js';

describe('parseEventFormat on the captured Linux 6.18 format files', () => {
  test('inet_sock_set_state: id, fields by name with offsets, sizes, signedness, arrays', () => {
    const f = parseEventFormat(fixture('formats/inet_sock_set_state.format'));
    assert.equal(f.name, 'inet_sock_set_state');
    const idLine = /^ID: (\d+)$/m.exec(fixture('formats/inet_sock_set_state.format'));
    assert.equal(f.id, Number(idLine?.[1]));
    assert.deepEqual(
      f.fields.filter((x) => x.common).map((x) => x.name),
      ['common_type', 'common_flags', 'common_preempt_count', 'common_pid'],
    );
    const skaddr = f.field.get('skaddr');
    assert.deepEqual({ ...skaddr }, { name: 'skaddr', type: 'const void *', offset: 8, size: 8, signed: false, arrayLength: null, dynamic: null, common: false });
    assert.equal(f.field.get('oldstate')?.signed, true);
    assert.equal(f.field.get('saddr')?.arrayLength, 4);
    assert.equal(f.field.get('saddr')?.type, '__u8');
    assert.equal(f.field.get('daddr_v6')?.arrayLength, 16);
    assert.equal(f.field.get('common_pid')?.signed, true);
  });

  test('state names come from the print fmt and match include/net/tcp_states.h numbering', () => {
    const f = parseEventFormat(fixture('formats/inet_sock_set_state.format'));
    const table = f.symbols.get('newstate');
    assert.ok(table);
    assert.equal(table.size, 12);
    for (const [n, name] of table) assert.equal(TCP_STATES[n - 1], name.replace(/^TCP_/, ''), `state ${n}`);
    assert.equal(f.symbols.get('family')?.get(10), 'AF_INET6');
    assert.equal(f.symbols.get('protocol')?.get(262), 'IPPROTO_MPTCP');
  });

  test('tcp_send_reset: the reason table, the unexpanded state macros, sockaddr arrays', () => {
    const f = parseEventFormat(fixture('formats/tcp_send_reset.format'));
    const reasons = f.symbols.get('reason');
    assert.ok(reasons);
    assert.equal(reasons.get(11), 'TCP_ABORT_ON_CLOSE');
    assert.equal(reasons.get(1), 'NO_SOCKET');
    // every name this kernel prints is in the vocabulary, in the same numbering
    for (const [n, name] of reasons) {
      assert.ok(isKnownRstReason(name), name);
      assert.equal(RST_REASONS[n], name);
    }
    assert.equal(f.field.get('reason')?.type, 'enum sk_rst_reason');
    assert.equal(f.field.get('saddr')?.size, 28);
    // `{ TCP_ESTABLISHED, "TCP_ESTABLISHED" }`: a macro, not a number
    assert.equal(f.symbols.get('state')?.size, 0);
    assert.equal(f.unresolvedSymbols.get('state')?.length, 12);
  });

  test('ftrace/print: a flexible array `char buf[]`', () => {
    const f = parseEventFormat(fixture('formats/print.format'));
    assert.deepEqual({ ...f.field.get('buf') }, { name: 'buf', type: 'char', offset: 16, size: 0, signed: false, arrayLength: 0, dynamic: null, common: false });
  });
});

describe('parseEventFormat on odd formats', () => {
  const odd = [
    'name: odd',
    'ID: 77',
    'format:',
    '\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;',
    '\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;',
    '',
    '\tfield:__data_loc char[] name;\toffset:8;\tsize:4;\tsigned:1;',
    '\tfield:__rel_loc u8[] blob;\toffset:12;\tsize:4;\tsigned:0;',
    '\tfield:s64 delta;\toffset:16;\tsize:8;\tsigned:1;',
    '\tfield:unsigned long long words[3];\toffset:24;\tsize:24;\tsigned:0;',
    '\tfield:char comm[16];\toffset:48;\tsize:16;\tsigned:1;',
    '',
    'print fmt: "%s %s", __print_symbolic(REC->delta, { -1, "MINUS" }, { 0x10, "HEX" }, {2,"TIGHT"}), __print_flags(REC->delta, "|", { 1, "A" })',
  ].join('\n');

  test('__data_loc / __rel_loc, signed 64-bit, arrays of wide types', () => {
    const f = parseEventFormat(odd, 'odd');
    assert.equal(f.id, 77);
    assert.deepEqual(
      f.fields.map((x) => [x.name, x.type, x.offset, x.size, x.signed, x.arrayLength, x.dynamic, x.common]),
      [
        ['common_type', 'unsigned short', 0, 2, false, null, null, true],
        ['common_pid', 'int', 4, 4, true, null, null, true],
        ['name', '__data_loc char', 8, 4, true, 0, 'data_loc', false],
        ['blob', '__rel_loc u8', 12, 4, false, 0, 'rel_loc', false],
        ['delta', 's64', 16, 8, true, null, null, false],
        ['words', 'unsigned long long', 24, 24, false, 3, null, false],
        ['comm', 'char', 48, 16, true, 16, null, false],
      ],
    );
  });

  test('symbolic values: negative, hex, no spaces; __print_flags is not a symbol table', () => {
    const f = parseEventFormat(odd, 'odd');
    assert.deepEqual([...(f.symbols.get('delta') ?? [])], [
      [-1, 'MINUS'],
      [16, 'HEX'],
      [2, 'TIGHT'],
    ]);
    assert.equal(f.symbols.size, 1);
  });

  test('escaped quotes in a symbol name', () => {
    const { symbols } = parsePrintSymbolic('__print_symbolic(REC->x, { 1, "A\\"B" })');
    assert.equal(symbols.get('x')?.get(1), 'A\\"B');
  });

  test('malformed files are a TraceFormatError naming the file and line', () => {
    assert.throws(() => parseEventFormat('ID: 3\nformat:\n\tfield:int x;\toffset:0;\tsize:4;\tsigned:1;\n', 'f'), (e: unknown) => e instanceof TraceFormatError && /no "name:"/.test(e.message));
    assert.throws(() => parseEventFormat('name: x\nformat:\n\tfield:int x;\toffset:0;\tsize:4;\n', 'f'), /no "ID:"/);
    assert.throws(() => parseEventFormat('name: x\nID: 99999999\n', 'f'), (e: unknown) => e instanceof TraceFormatError && e.line === 2);
    assert.throws(() => parseEventFormat('name: x\nID: 1\nformat:\n\tfield:int x;\toffset:zero;\n', 'f'), /unreadable field line/);
    assert.throws(() => parseEventFormat('name: x\nID: 1\nformat:\n', 'f'), /no fields/);
  });
});

describe('header_page and header_event', () => {
  test('the captured files give the 64-bit page layout', () => {
    assert.deepEqual(parsePageHeader(fixture('header_page')), {
      timestampOffset: 0,
      timestampSize: 8,
      commitOffset: 8,
      commitSize: 8,
      dataOffset: 16,
      dataSize: 4080,
    });
    assert.deepEqual(parseEventHeader(fixture('header_event')), {
      typeLenBits: 5,
      timeDeltaBits: 27,
      padding: 29,
      timeExtend: 30,
      timeStamp: 31,
      dataMaxTypeLen: 28,
    });
  });

  test('a 32-bit kernel layout and a missing field', () => {
    const h32 = [
      '\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;',
      '\tfield: local_t commit;\toffset:8;\tsize:4;\tsigned:1;',
      '\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;',
      '\tfield: char data;\toffset:12;\tsize:4084;\tsigned:0;',
    ].join('\n');
    assert.deepEqual(parsePageHeader(h32), { timestampOffset: 0, timestampSize: 8, commitOffset: 8, commitSize: 4, dataOffset: 12, dataSize: 4084 });
    assert.throws(() => parsePageHeader(h32.replace(/.*data.*/, '')), /no "data" field/);
    assert.throws(() => parseEventHeader('type_len : 5 bits'), TraceFormatError);
  });
});

describe('RST reason vocabulary', () => {
  test('every known reason has a meaning; unknown names pass through without one', () => {
    for (const r of RST_REASONS) assert.ok((rstReasonMeaning(r) ?? '').length > 0, r);
    assert.match(rstReasonMeaning('TCP_ABORT_ON_CLOSE') ?? '', /unread data/);
    assert.equal(rstReasonMeaning('TCP_SOMETHING_NEW'), undefined);
    assert.equal(isKnownRstReason('TCP_SOMETHING_NEW'), false);
  });
});
