// A strict parser of the Prometheus text exposition format 0.0.4, for tests: it rejects what a
// Prometheus server would reject (bad names, bad escapes, a sample before its family's TYPE,
// a family split in two, duplicate series, a TYPE seen twice, a HELP/TYPE after samples) rather
// than guessing. No npm parser is used: the maintained-looking one (parse-prometheus-text-format)
// is a lenient port that accepts several of these mistakes, and adding a dev dependency would
// touch a package.json other engineers are editing.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  timestampMs?: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help: string | undefined;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export class PromParseError extends Error {
  constructor(lineNo: number, line: string, reason: string) {
    super(`line ${lineNo}: ${reason}: ${JSON.stringify(line)}`);
  }
}

function unescape(s: string, allowQuote: boolean, fail: (r: string) => never): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = s[++i];
    if (n === '\\') out += '\\';
    else if (n === 'n') out += '\n';
    else if (n === '"' && allowQuote) out += '"';
    else fail(`bad escape \\${n ?? ''}`);
  }
  return out;
}

function parseValue(text: string, fail: (r: string) => never): number {
  if (text === 'NaN') return NaN;
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) fail(`not a number: ${JSON.stringify(text)}`);
  return Number(text);
}

function familyOf(sampleName: string, type: MetricType, family: string): boolean {
  if (sampleName === family) return type !== 'histogram';
  if (type === 'histogram') return [`${family}_bucket`, `${family}_sum`, `${family}_count`].includes(sampleName);
  if (type === 'summary') return [`${family}_sum`, `${family}_count`].includes(sampleName);
  return false;
}

/** Parses a scrape; throws PromParseError with the line for anything off. */
export function parsePromText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  const series = new Set<string>();
  let current: Family | undefined;
  if (!text.endsWith('\n')) throw new PromParseError(0, text.slice(-40), 'the exposition must end with a newline');
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((line, idx) => {
    const lineNo = idx + 1;
    const fail = (reason: string): never => {
      throw new PromParseError(lineNo, line, reason);
    };
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, 'HELP' | 'TYPE', string, string | undefined];
      if (!METRIC_NAME.test(name)) fail(`bad metric name ${name}`);
      let fam = families.get(name);
      if (fam !== undefined && (closed.has(name) || fam.samples.length > 0)) fail(`${kind} for ${name} after its samples`);
      if (fam === undefined) {
        fam = { name, type: 'untyped', help: undefined, samples: [] };
        families.set(name, fam);
      }
      if (current !== undefined && current !== fam) closed.add(current.name);
      current = fam;
      if (kind === 'HELP') {
        if (fam.help !== undefined) fail(`second HELP for ${name}`);
        fam.help = unescape(rest ?? '', false, fail);
      } else {
        if (rest === undefined || !TYPES.has(rest)) fail(`bad type ${rest ?? ''}`);
        if ((fam as Family & { typed?: boolean }).typed) fail(`second TYPE for ${name}`);
        (fam as Family & { typed?: boolean }).typed = true;
        fam.type = rest as MetricType;
      }
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?[ \t]+(\S+)(?:[ \t]+(-?\d+))?$/.exec(line);
    if (!m) fail('not a sample line');
    const [, name, , labelText, valueText, ts] = m as unknown as [string, string, string | undefined, string | undefined, string, string | undefined];
    const labels: Record<string, string> = {};
    if (labelText !== undefined && labelText !== '') {
      const re = /\s*([^=\s]+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;
      let pos = 0;
      while (pos < labelText.length) {
        re.lastIndex = pos;
        const lm = re.exec(labelText);
        if (!lm) fail(`bad label set {${labelText}}`);
        const [, ln, lv, comma] = lm as unknown as [string, string, string, string];
        if (!LABEL_NAME.test(ln) || ln.startsWith('__')) fail(`bad label name ${ln}`);
        if (ln in labels) fail(`label ${ln} twice`);
        labels[ln] = unescape(lv, true, fail);
        pos = re.lastIndex;
        if (comma === '' && pos < labelText.length) fail('missing comma between labels');
      }
    }
    const value = parseValue(valueText, fail);
    const fam = current !== undefined && familyOf(name, current.type, current.name) ? current : undefined;
    let target = fam;
    if (target === undefined) {
      // An untyped sample without metadata starts its own family.
      if (families.has(name)) fail(`samples of ${name} are not contiguous, or do not follow its TYPE`);
      target = { name, type: 'untyped', help: undefined, samples: [] };
      families.set(name, target);
      if (current !== undefined) closed.add(current.name);
      current = target;
    }
    if (closed.has(target.name)) fail(`family ${target.name} split in two`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(key)) fail(`duplicate series ${key}`);
    series.add(key);
    target.samples.push({ name, labels, value, ...(ts === undefined ? {} : { timestampMs: Number(ts) }) });
  });
  return families;
}

/** The value of one series, or undefined. */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      const keys = Object.keys(labels);
      if (keys.length === Object.keys(s.labels).length && keys.every((k) => s.labels[k] === labels[k])) return s.value;
    }
  }
  return undefined;
}
