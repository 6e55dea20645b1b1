/**
 * A line of a /proc table that does not have the shape the kernel prints.
 *
 * Thrown by every parser in `proc/` ({@link parseTcpTable}, `parseNetstat`, `parseSockstat`) and
 * by the readers that call them. I/O errors (a missing `/proc/net/tcp`, `EACCES`) are not wrapped:
 * they keep Node's own error with its `code`.
 *
 * The message names the file and the 1-based line number, says what was wrong and quotes the
 * line, e.g.
 * `/proc/net/tcp:7: expected 8 hex digits for the local address, found "0100007:0BB8": "   5: 0100007:0BB8 …"`.
 */
export class ProcParseError extends Error {
  /** Always `'EPROCPARSE'`, so callers can test `err.code` as they do for Node's errors. */
  readonly code = 'EPROCPARSE' as const;
  /** The file (or label) the text came from, e.g. `/proc/net/tcp6`. */
  readonly source: string;
  /** 1-based line number within that text. */
  readonly lineNumber: number;
  /** The offending line, without its newline. */
  readonly line: string;
  /** What was wrong, without the location (the message's middle part). */
  readonly reason: string;

  constructor(source: string, lineNumber: number, line: string, reason: string) {
    super(`${source}:${lineNumber}: ${reason}: ${JSON.stringify(shorten(line))}`);
    this.name = 'ProcParseError';
    this.source = source;
    this.lineNumber = lineNumber;
    this.line = line;
    this.reason = reason;
  }
}

/** Keeps messages readable when a huge or binary "line" is fed in by mistake. */
function shorten(line: string): string {
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
