import { pc } from '../lab/report/colour.js';
import { judgeRecorded, readRecordedTraces, RecordedTracesError } from '../lab/report/recorded.js';
import { checkPictureOutputs, writePictures, type PictureOptions } from './pictures.js';

export interface ReportCommandOptions extends PictureOptions {
  /** Directory of traces recorded with `teardown lab --record DIR`. */
  from: string;
}

/**
 * `teardown report --from DIR [--html FILE] [--svg DIR] [--mermaid DIR]`: the pictures of a lab
 * run from its recorded traces, without root or the kernel.
 * @returns 0 when written, 2 on bad usage (no output asked, unreadable traces, unwritable path).
 */
export function reportCommand(opts: ReportCommandOptions): number {
  if (opts.html === undefined && opts.svg === undefined && opts.mermaid === undefined) {
    process.stderr.write('teardown report: nothing to write: give --html FILE, --svg DIR or --mermaid DIR\n');
    return 2;
  }
  const problem = checkPictureOutputs('report', opts);
  if (problem) {
    process.stderr.write(`${problem}\n`);
    return 2;
  }
  let traces;
  try {
    traces = readRecordedTraces(opts.from);
  } catch (e) {
    if (!(e instanceof RecordedTracesError)) throw e;
    process.stderr.write(`teardown report: --from ${e.message}\n`);
    return 2;
  }
  const started = performance.now();
  const written = writePictures(opts, { ...judgeRecorded(traces), source: `recorded traces in ${opts.from}` });
  process.stderr.write(pc.dim(`${traces.length} scenarios: wrote ${written.length} file${written.length === 1 ? '' : 's'} in ${(performance.now() - started).toFixed(0)} ms${opts.html ? ` (page: ${opts.html})` : ''}\n`));
  return 0;
}
