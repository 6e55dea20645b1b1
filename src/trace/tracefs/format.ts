/**
 * Pure parsers of the layout files tracefs publishes (Documentation/trace/events.rst §"Event
 * formats", kernel/trace/trace_events.c `f_show()`, kernel/trace/ring_buffer.c
 * `ring_buffer_print_page_header()` / `ring_buffer_print_entry_header()`): an event's `format`
 * file, `events/header_page` and `events/header_event`. Nothing here reads a file; the session
 * feeds them text, tests feed them fixtures.
 */

/** A format file the parser cannot use: which file (as given), which line, and why. */
export class TraceFormatError extends Error {
  constructor(
    readonly source: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${source}:${line}: ${reason}`);
    this.name = 'TraceFormatError';
  }
}

/** One field of an event record, as the `format` file describes it. */
export interface FieldFormat {
  /** Field name without array brackets (`saddr` for `__u8 saddr[4]`). */
  name: string;
  /** C type as printed, without the name (`__u8`, `const void *`, `enum sk_rst_reason`). */
  type: string;
  /** Byte offset from the start of the record (the record starts with common_type). */
  offset: number;
  /** Size in bytes (of the whole array for arrays; 4 for a `__data_loc` descriptor). */
  size: number;
  signed: boolean;
  /** `[n]` → n, `[]` → 0 (a flexible tail), not an array → null. */
  arrayLength: number | null;
  /**
   * `__data_loc` (or `__rel_loc`) field: the 4 bytes at `offset` hold (length << 16 | offset)
   * of the real data, absolute for data_loc, relative to the end of the descriptor for rel_loc.
   */
  dynamic: 'data_loc' | 'rel_loc' | null;
  /** A `common_*` field every event shares (type, flags, preempt count, pid). */
  common: boolean;
}

/** Value → name table of one `__print_symbolic(REC->field, { v, "NAME" }, …)`. */
export type SymbolTable = ReadonlyMap<number, string>;

/** A parsed `events/<system>/<event>/format` file. */
export interface EventFormat {
  name: string;
  /** The `common_type` value the kernel writes in every record of this event. */
  id: number;
  fields: readonly FieldFormat[];
  /** Fields by name. */
  field: ReadonlyMap<string, FieldFormat>;
  /** The `print fmt:` line, verbatim (without the `print fmt: ` prefix). */
  printFmt: string;
  /**
   * Symbol tables of the print fmt by field name (the union when a field has several). Entries
   * whose value is not a number (`{ TCP_ESTABLISHED, "TCP_ESTABLISHED" }`: a C macro the kernel
   * did not expand) are left out; see {@link EventFormat.unresolvedSymbols}.
   */
  symbols: ReadonlyMap<string, SymbolTable>;
  /** Per field, the names whose value the print fmt gives only as an unexpanded macro. */
  unresolvedSymbols: ReadonlyMap<string, readonly string[]>;
}

const FIELD_RE = /^field:\s*(.+?);\s*offset:\s*(\d+);\s*size:\s*(\d+);\s*(?:signed:\s*(\d+);)?/;

/**
 * Parses one `field:` declaration (`__u8 saddr[4]`, `__data_loc char[] name`,
 * `const void * skaddr`) into type, name and array length.
 */
function parseDeclaration(decl: string): { type: string; name: string; arrayLength: number | null; dynamic: FieldFormat['dynamic'] } | null {
  let d = decl.trim();
  let dynamic: FieldFormat['dynamic'] = null;
  const loc = /^__(data|rel)_loc\s+/.exec(d);
  if (loc) {
    dynamic = loc[1] === 'data' ? 'data_loc' : 'rel_loc';
    d = d.slice(loc[0].length);
  }
  const m = /^(.*?)\s*\b([A-Za-z_]\w*)\s*(?:\[(\d*)\])?$/.exec(d);
  if (!m) return null;
  let type = (m[1] as string).trim();
  const name = m[2] as string;
  let arrayLength: number | null = m[3] === undefined ? null : m[3] === '' ? 0 : Number(m[3]);
  // `__data_loc char[] name`: the brackets belong to the type.
  const typeArray = /^(.*?)\s*\[(\d*)\]$/.exec(type);
  if (typeArray) {
    type = (typeArray[1] as string).trim();
    arrayLength = typeArray[2] === '' ? 0 : Number(typeArray[2]);
  }
  if (type === '') return null;
  return { type: dynamic ? `__${dynamic} ${type}` : type, name, arrayLength, dynamic };
}

/**
 * Reads the `{ value, "NAME" }` pairs of every `__print_symbolic(REC->field, …)` in a print fmt.
 * Values are decimal, hex or negative integers; other values (macros) go to `unresolved`.
 */
export function parsePrintSymbolic(printFmt: string): { symbols: Map<string, Map<number, string>>; unresolved: Map<string, string[]> } {
  const symbols = new Map<string, Map<number, string>>();
  const unresolved = new Map<string, string[]>();
  const head = /__print_symbolic\(\s*REC->(\w+)\s*,/g;
  const pair = /\s*,?\s*\{\s*([^,{}]+?)\s*,\s*"((?:[^"\\]|\\.)*)"\s*\}/y;
  for (let h = head.exec(printFmt); h !== null; h = head.exec(printFmt)) {
    const field = h[1] as string;
    const table = symbols.get(field) ?? new Map<number, string>();
    symbols.set(field, table);
    pair.lastIndex = head.lastIndex;
    for (let p = pair.exec(printFmt); p !== null; p = pair.exec(printFmt)) {
      const raw = p[1] as string;
      const name = p[2] as string;
      const value = /^-?(?:0[xX][0-9a-fA-F]+|\d+)$/.test(raw) ? Number(raw.startsWith('-') ? -Number(raw.slice(1)) : Number(raw)) : NaN;
      if (Number.isSafeInteger(value)) table.set(value, name);
      else {
        const list = unresolved.get(field) ?? [];
        list.push(name);
        unresolved.set(field, list);
      }
      head.lastIndex = pair.lastIndex;
    }
  }
  return { symbols, unresolved };
}

/**
 * Parses an event's `format` file.
 * @param source a label for error messages (the path, usually).
 * @throws TraceFormatError when `name:`, `ID:` or the fields are missing or malformed, or when two
 *   fields overlap the record's bounds nonsensically (negative or non-integer numbers).
 */
export function parseEventFormat(text: string, source = 'format'): EventFormat {
  let name: string | undefined;
  let id: number | undefined;
  let printFmt = '';
  const fields: FieldFormat[] = [];
  let inFields = false;
  let commonPart = true;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    const lineNo = i + 1;
    if (line === '') {
      if (inFields) commonPart = false; // the blank line separates common_* from the event's own
      continue;
    }
    if (line.startsWith('name:')) name = line.slice(5).trim();
    else if (line.startsWith('ID:')) {
      const v = Number(line.slice(3).trim());
      if (!Number.isSafeInteger(v) || v < 0 || v > 0xffff) throw new TraceFormatError(source, lineNo, `bad event ID ${JSON.stringify(line)}`);
      id = v;
    } else if (line === 'format:') inFields = true;
    else if (line.startsWith('field:')) {
      const m = FIELD_RE.exec(line);
      if (!m) throw new TraceFormatError(source, lineNo, `unreadable field line ${JSON.stringify(line)}`);
      const decl = parseDeclaration(m[1] as string);
      if (!decl) throw new TraceFormatError(source, lineNo, `unreadable field declaration ${JSON.stringify(m[1])}`);
      fields.push({
        name: decl.name,
        type: decl.type,
        offset: Number(m[2]),
        size: Number(m[3]),
        signed: m[4] === '1',
        arrayLength: decl.arrayLength,
        dynamic: decl.dynamic,
        common: commonPart && decl.name.startsWith('common_'),
      });
    } else if (line.startsWith('print fmt:')) printFmt = line.slice('print fmt:'.length).trim();
  }
  if (name === undefined || name === '') throw new TraceFormatError(source, 1, 'no "name:" line');
  if (id === undefined) throw new TraceFormatError(source, 1, 'no "ID:" line');
  if (fields.length === 0) throw new TraceFormatError(source, 1, 'no fields');
  const { symbols, unresolved } = parsePrintSymbolic(printFmt);
  return {
    name,
    id,
    fields,
    field: new Map(fields.map((f) => [f.name, f])),
    printFmt,
    symbols,
    unresolvedSymbols: unresolved,
  };
}

/** Where the parts of a ring-buffer page lie (`events/header_page`). */
export interface PageHeaderFormat {
  timestampOffset: number;
  timestampSize: number;
  commitOffset: number;
  /** 8 on 64-bit kernels (`local_t`), 4 on 32-bit ones. */
  commitSize: number;
  dataOffset: number;
  /** Bytes of event data a page can hold (page size − header). */
  dataSize: number;
}

/**
 * Parses `events/header_page` (`field: u64 timestamp; offset:0; size:8; …`). The `overwrite`
 * pseudo-field (a flag sharing the commit word) is ignored.
 * @throws TraceFormatError when timestamp, commit or data is missing.
 */
export function parsePageHeader(text: string, source = 'header_page'): PageHeaderFormat {
  const got = new Map<string, { offset: number; size: number }>();
  for (const raw of text.split('\n')) {
    const m = FIELD_RE.exec(raw.trim());
    if (!m) continue;
    const decl = parseDeclaration(m[1] as string);
    if (decl) got.set(decl.name, { offset: Number(m[2]), size: Number(m[3]) });
  }
  const need = (n: string): { offset: number; size: number } => {
    const f = got.get(n);
    if (!f) throw new TraceFormatError(source, 1, `no "${n}" field`);
    return f;
  };
  const ts = need('timestamp');
  const commit = need('commit');
  const data = need('data');
  if (ts.size !== 8) throw new TraceFormatError(source, 1, `page timestamp of ${ts.size} bytes (8 expected)`);
  if (commit.size !== 4 && commit.size !== 8) throw new TraceFormatError(source, 1, `commit of ${commit.size} bytes (4 or 8 expected)`);
  return {
    timestampOffset: ts.offset,
    timestampSize: ts.size,
    commitOffset: commit.offset,
    commitSize: commit.size,
    dataOffset: data.offset,
    dataSize: data.size,
  };
}

/** The event header encoding (`events/header_event`). */
export interface EventHeaderFormat {
  typeLenBits: number;
  timeDeltaBits: number;
  padding: number;
  timeExtend: number;
  timeStamp: number;
  dataMaxTypeLen: number;
}

/**
 * Parses `events/header_event` (`type_len : 5 bits`, `padding : type == 29`, …).
 * @throws TraceFormatError when a number is missing.
 */
export function parseEventHeader(text: string, source = 'header_event'): EventHeaderFormat {
  const num = (re: RegExp, what: string): number => {
    const m = re.exec(text);
    if (!m) throw new TraceFormatError(source, 1, `no ${what}`);
    return Number(m[1]);
  };
  return {
    typeLenBits: num(/type_len\s*:\s*(\d+)\s*bits/, 'type_len width'),
    timeDeltaBits: num(/time_delta\s*:\s*(\d+)\s*bits/, 'time_delta width'),
    padding: num(/padding\s*:\s*type\s*==\s*(\d+)/, 'padding type'),
    timeExtend: num(/time_extend\s*:\s*type\s*==\s*(\d+)/, 'time_extend type'),
    timeStamp: num(/time_stamp\s*:\s*type\s*==\s*(\d+)/, 'time_stamp type'),
    dataMaxTypeLen: num(/data max type_len\s*==\s*(\d+)/, 'data max type_len'),
  };
}
