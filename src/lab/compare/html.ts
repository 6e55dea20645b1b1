/**
 * The differential check as one self-contained HTML page (`teardown lab --compare --html FILE`):
 * the agreement table, then per scenario the kernel's and the model's ladder diagrams side by side
 * ({@link renderLadderSvg}, the lab report's own) and every mismatch with its step and reason.
 * Inline CSS and SVG, nothing fetched: it opens from `file://`.
 */
import { renderLadderSvg } from '../report/ladder.js';
import { esc } from '../report/svg.js';
import type { Trace } from '../trace.js';
import { agreement } from './compare.js';
import { FACT_KINDS, KIND_HEAD, type Comparison, type Tally } from './types.js';

const CSS = `
:root{--ok:#1a7f37;--near:#9a6700;--bad:#cf222e;--line:#d0d7de}
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;padding:16px 24px;max-width:2000px;color:#1f2328}
h1{font-size:22px;margin:4px 0}h2{font-size:18px;margin:28px 0 4px;border-bottom:1px solid var(--line);padding-bottom:4px}
.dim{color:#656d76}code,.mono,td.n{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:12px}
table{border-collapse:collapse}th,td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;white-space:nowrap}
.ok{color:var(--ok)}.near{color:var(--near)}.bad{color:var(--bad)}
.pair{display:flex;gap:12px;align-items:flex-start}.pair>div{flex:1 1 0;min-width:0}
.diagram{overflow-x:auto;border:1px solid var(--line);border-radius:6px;padding:4px;background:#fff;margin:4px 0}
.diagram svg{display:block}
`;


function pct(t: Tally): string {
  const a = agreement(t);
  const cls = t.agreed === t.compared ? 'ok' : a >= 0.95 ? 'near' : 'bad';
  return `<span class="${cls}">${(100 * a).toFixed(1)} %</span>`;
}

function cell(t: Tally): string {
  if (t.compared === 0) return '<span class="dim">-</span>';
  return t.agreed === t.compared ? `${t.agreed}/${t.compared}` : `<span class="bad">${t.agreed}/${t.compared}</span>`;
}

/** One scenario's pair of traces (the kernel's, the model's). */
export interface ComparedPair {
  kernel: Trace;
  model: Trace;
}

/** The page (see the module comment). `pairs` gives the ladders; scenarios without a pair show no diagram. */
export function renderCompareHtml(c: Comparison, pairs: readonly ComparedPair[], source: string): string {
  const byScenario = new Map(pairs.map((p) => [p.kernel.scenario, p]));
  const rows = c.scenarios.map((s) => `<tr><td><a href="#sc-${esc(s.scenario)}">${esc(s.scenario)}</a></td><td class="n">${pct(s)}</td>${FACT_KINDS.map((k) => `<td class="n">${cell(s.kinds[k])}</td>`).join('')}</tr>`);
  rows.push(`<tr><th>overall</th><td class="n">${pct(c)}</td>${FACT_KINDS.map((k) => `<td class="n">${cell(c.kinds[k])}</td>`).join('')}</tr>`);
  const reasons = Object.entries(c.reasons).map(([g, n]) => `${esc(g)} ${n}`).join(', ');
  const skipped = c.skipped.map((s) => `<li>${esc(s.scenario)}: ${esc(s.reason)}</li>`).join('');
  const sections = c.scenarios.map((s) => {
    const p = byScenario.get(s.scenario);
    const mism = s.mismatches
      .map((m) => `<tr><td class="n">${m.step ?? 'run'}</td><td>${esc(m.kind)}</td><td class="mono">${esc(m.socket ?? '')}</td><td class="mono">${esc(m.kernel)}</td><td class="mono">${esc(m.model)}</td><td class="${m.reason.gap === 'unexplained' ? 'bad' : 'dim'}">${esc(m.reason.text)}</td></tr>`)
      .join('');
    const ladders = p
      ? `<div class="pair"><div><b>kernel</b> <span class="dim">${esc(p.kernel.env.kernel)}</span><div class="diagram">${renderLadderSvg(p.kernel).svg}</div></div>` +
        `<div><b>model</b> <span class="dim">${esc(p.model.env.kernel)}</span><div class="diagram">${renderLadderSvg(p.model).svg}</div></div></div>`
      : '';
    return (
      `<section id="sc-${esc(s.scenario)}"><h2>${esc(s.scenario)} <small>${pct(s)} of ${s.compared} facts</small></h2>` +
      (mism ? `<table><thead><tr><th>step</th><th>kind</th><th>socket</th><th>kernel</th><th>model</th><th>why</th></tr></thead><tbody>${mism}</tbody></table>` : '<p class="ok">every fact agrees</p>') +
      s.notes.map((n) => `<p class="dim">${esc(n)}</p>`).join('') +
      ladders +
      `</section>`
    );
  });
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<title>tcp-teardown: the model against the kernel</title><style>${CSS}</style></head><body>` +
    `<h1>The model against the kernel</h1><p class="dim">kernel traces: ${esc(source)}. ${c.agreed} of ${c.compared} facts agree (${(100 * agreement(c)).toFixed(1)} %)` +
    `${reasons ? `; mismatches by reason: ${reasons}` : ''}.</p>` +
    `<table><thead><tr><th>scenario</th><th>agreed</th>${FACT_KINDS.map((k) => `<th>${KIND_HEAD[k]}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>` +
    (skipped ? `<h2>Not compared</h2><ul>${skipped}</ul>` : '') +
    sections.join('') +
    `</body></html>\n`
  );
}
