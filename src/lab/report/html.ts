/**
 * The lab as one self-contained HTML page: inline CSS, SVG and script, nothing fetched, so it
 * opens from `file://` and can be mailed or attached to a ticket. The claims table first (one row
 * per claim, verdict coloured, filtered by article and by verdict, each claim linking to the
 * scenarios that judged it); then per scenario its summary, its ladder diagram
 * ({@link renderLadderSvg}), the compact timeline ({@link timelineRows}) and its verdicts with
 * their evidence; then the findings beyond the articles.
 */
import { CLAIMS } from '../claims.js';
import type { ClaimJudgement, ScenarioOutcome } from '../judge/index.js';
import type { Finding, VerdictKind } from '../scenario.js';
import type { Trace } from '../trace.js';
import { BREAK_MS, PX_PER_MS, renderLadderSvg } from './ladder.js';
import { esc } from './svg.js';
import { timelineRows, TIMELINE_LEGEND } from './text.js';

/** What the page shows: a lab run's judgement and its outcomes (live, or read back from `--record` files). */
export interface HtmlReportInput {
  claims: readonly ClaimJudgement[];
  findings: readonly (Finding & { scenario: string })[];
  outcomes: readonly ScenarioOutcome[];
  /** Where the traces came from, for the header: `this run`, `recorded traces in DIR`. */
  source: string;
}

const VERDICTS: readonly VerdictKind[] = ['confirmed', 'partly', 'contradicted', 'unverified'];

const CSS = `
:root{--confirmed:#1a7f37;--partly:#8250df;--contradicted:#cf222e;--unverified:#9a6700;--line:#d0d7de}
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;padding:16px 24px;max-width:1600px;color:#1f2328}
h1{font-size:22px;margin:4px 0}h2{font-size:18px;margin:28px 0 4px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:14px 0 4px}small,.dim{color:#656d76}
code,.mono,table.timeline{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:12px}
table{border-collapse:collapse}th,td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa;position:sticky;top:0}
.v{font-weight:600;white-space:nowrap}.v.confirmed{color:var(--confirmed)}.v.partly{color:var(--partly)}.v.contradicted{color:var(--contradicted)}.v.unverified{color:var(--unverified)}
tr.claim td:first-child{white-space:nowrap;font-weight:600}
.says{margin-bottom:2px}.obs{color:#424a53}.sub{margin:2px 0 0 12px;font-size:13px;color:#424a53}
.filters{margin:8px 0;display:flex;gap:16px;align-items:center}
.diagram{overflow-x:auto;border:1px solid var(--line);border-radius:6px;padding:4px;background:#fff;margin:8px 0}
.diagram svg{display:block}
table.timeline td{padding:1px 6px;border-bottom:1px solid #eee}table.timeline tr.fail td.step{color:var(--contradicted)}
table.timeline .kernel{color:#8250df}table.timeline tr.first td{border-top:1px solid #ccc}
.legend{font-size:12px;color:#656d76;max-width:1100px}
.key span{margin-right:14px}.key b{display:inline-block;width:18px;height:3px;vertical-align:middle;margin-right:4px}
`;

/** Filters the claims table by article and by verdict (no library, no fetch). */
const SCRIPT = `
(function(){
  var a=document.getElementById('f-article'),v=document.getElementById('f-verdict'),n=document.getElementById('f-count');
  function apply(){
    var rows=document.querySelectorAll('#claims tbody tr.claim'),shown=0;
    for(var i=0;i<rows.length;i++){
      var r=rows[i],ok=(!a.value||r.getAttribute('data-article')===a.value)&&(!v.value||r.getAttribute('data-verdict')===v.value);
      r.hidden=!ok;if(ok)shown++;
    }
    n.textContent=shown+' of '+rows.length+' claims';
  }
  a.addEventListener('change',apply);v.addEventListener('change',apply);apply();
})();
`;

function verdictSpan(v: VerdictKind): string {
  return `<span class="v ${v}">${v}</span>`;
}

function claimsTable(input: HtmlReportInput): string {
  const articles = [...new Set(input.claims.map((c) => c.claim.split('-')[0] as string))];
  const counts = VERDICTS.map((v) => `${verdictSpan(v)} ${input.claims.filter((c) => c.verdict === v).length}`).join(' · ');
  const rows = input.claims.map((c) => {
    const scenarios = [...new Set(c.findings.map((f) => f.scenario))];
    const per = c.findings.length > 1 || (c.findings.length === 1 && c.findings[0]?.observed !== c.observed)
      ? c.findings.map((f) => `<div class="sub"><a href="#sc-${esc(f.scenario)}">${esc(f.scenario)}</a> ${verdictSpan(f.verdict)}: ${esc(f.observed)}</div>`).join('')
      : '';
    const notes = c.notes.map((n) => `<div class="sub">note: ${esc(n)}</div>`).join('');
    return (
      `<tr class="claim" id="claim-${esc(c.claim)}" data-article="${esc(c.claim.split('-')[0] as string)}" data-verdict="${c.verdict}">` +
      `<td>${esc(c.claim)}</td><td>${verdictSpan(c.verdict)}</td>` +
      `<td><div class="says">${esc(CLAIMS.get(c.claim) ?? '')}</div><div class="obs">${esc(c.observed)}</div>${per}${notes}</td>` +
      `<td>${scenarios.map((s) => `<a href="#sc-${esc(s)}">${esc(s)}</a>`).join('<br>')}</td></tr>`
    );
  });
  return (
    `<section id="claims"><h2>Claims</h2><p>${counts}</p>` +
    `<div class="filters"><label>article <select id="f-article"><option value="">all</option>${articles.map((a) => `<option>${esc(a)}</option>`).join('')}</select></label>` +
    `<label>verdict <select id="f-verdict"><option value="">all</option>${VERDICTS.map((v) => `<option>${v}</option>`).join('')}</select></label>` +
    `<span id="f-count" class="dim"></span></div>` +
    `<table><thead><tr><th>claim</th><th>verdict</th><th>the article says / what this kernel did</th><th>scenarios</th></tr></thead><tbody>${rows.join('')}</tbody></table></section>`
  );
}

function timelineTable(t: Trace): string {
  const actors = new Map(Object.entries(t.env.actors).map(([name, a]) => [a.pid, name]));
  const rows: string[] = [];
  for (const r of timelineRows(t.steps, actors, t)) {
    const step = `${esc(r.text)}${r.label ? ` <span class="dim">[${esc(r.label)}]</span>` : ''}${esc(r.tail)}${r.kernel.map((k) => `<div class="kernel">${esc(k)}</div>`).join('')}`;
    const socks = r.sockets.length > 0 ? r.sockets : [null];
    socks.forEach((x, i) => {
      const head = i === 0 ? `<td rowspan="${socks.length}">${r.index}</td><td rowspan="${socks.length}">${r.startMs}</td><td class="step" rowspan="${socks.length}">${step}</td>` : '';
      const cells = x === null ? '<td colspan="6"></td>'
        : x.state === 'gone' ? `<td>${esc(x.label)}</td><td colspan="5">gone</td>`
        : `<td>${esc(x.label)}</td><td>${esc(x.inTable ? x.state : `${x.state}*`)}</td><td>${x.recvQ}</td><td>${x.sendQ}</td><td>${esc(x.owner)}</td><td>${esc(x.timer)}</td>`;
      rows.push(`<tr class="${[i === 0 ? 'first' : '', r.ok ? '' : 'fail'].join(' ').trim()}">${head}${cells}</tr>`);
    });
  }
  return `<table class="timeline"><thead><tr><th>#</th><th>ms</th><th>step → result (ok unless shown)</th><th>socket</th><th>state</th><th>Recv-Q</th><th>Send-Q</th><th>owner</th><th>timer</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function scenarioSection(t: Trace): string {
  const ladder = renderLadderSvg(t);
  const sysctls = Object.entries(t.env.sysctls).map(([k, v]) => `${k}=${v}`).join(', ');
  const notes = [t.env.captureNote, t.env.traceNote].filter((n): n is string => n !== null).map((n) => `<p class="dim">${esc(n)}</p>`).join('');
  const verdicts = t.verdicts.map((v) => `<li><a href="#claim-${esc(v.claim)}">${esc(v.claim)}</a> ${verdictSpan(v.verdict)}: ${esc(v.observed)}</li>`).join('');
  const claimNotes = (t.notes ?? []).map((n) => `<li><a href="#claim-${esc(n.claim)}">${esc(n.claim)}</a> note: ${esc(n.note)}</li>`).join('');
  const findings = (t.findings ?? []).map((f) => `<li>finding <b>${esc(f.id)}</b>: ${esc(f.fact)} <span class="dim">${esc(f.evidence)}</span></li>`).join('');
  return (
    `<section class="scenario" id="sc-${esc(t.scenario)}" data-article="${esc(t.article)}">` +
    `<h2>${esc(t.scenario)} <small>article ${esc(t.article)}</small></h2><p><b>${esc(t.title)}</b></p>` +
    `<p>${esc(t.summary ?? '')}</p><p class="dim">${t.env.backend === 'model' ? esc(t.env.kernel) : `kernel ${esc(t.env.kernel)}`}${t.env.netns || t.env.backend === 'model' ? '' : ', host namespace'}${t.env.rttMs !== undefined ? `, RTT ${t.env.rttMs} ms` : ''}${sysctls ? `, ${esc(sysctls)}` : ''}, ${t.durationMs} ms</p>${notes}` +
    `<div class="diagram">${ladder.svg.replace('<svg ', `<svg class="ladder" data-scenario="${esc(t.scenario)}" `)}</div>` +
    `<details open><summary>compact timeline</summary>${timelineTable(t)}</details>` +
    `<h3>verdicts</h3><ul>${verdicts || '<li class="dim">judges no claim</li>'}${claimNotes}${findings}</ul></section>`
  );
}

/** The whole page (see the module comment). */
export function renderHtmlReport(input: HtmlReportInput): string {
  const traces = input.outcomes.flatMap((o) => (o.status === 'ran' ? [o.trace] : []));
  const kernels = [...new Set(traces.map((t) => t.env.kernel))];
  const others = input.outcomes.filter((o) => o.status !== 'ran').map((o) => `<li>${esc(o.scenario)} ${o.status === 'skipped' ? `skipped: ${esc(o.reason)}` : `FAILED: ${esc(o.error)}`}</li>`).join('');
  const findings = input.findings.map((f) => `<li><b>${esc(f.id)}</b>: ${esc(f.fact)}<div class="sub"><a href="#sc-${esc(f.scenario)}">${esc(f.scenario)}</a>: ${esc(f.evidence)}</div></li>`).join('');
  const key = [['syn', '#1a7f37', 'SYN'], ['fin', '#0a58ca', 'FIN'], ['rst', '#d00000', 'RST (the kernel\'s reason in brackets)'], ['data', '#222', 'data'], ['ack', '#999', 'pure ACK']]
    .map(([, colour, text]) => `<span><b style="background:${colour}"></b>${text}</span>`).join('');
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<title>tcp-teardown lab: ${traces.length} scenarios</title><style>${CSS}</style></head><body>` +
    `<h1>TCP teardown lab</h1><p class="dim">${traces.length} scenarios from ${esc(input.source)}, on ${esc(kernels.map((k) => (traces.find((t) => t.env.kernel === k)?.env.backend === 'model' ? `the ${k}` : `kernel ${k}`)).join(', ') || 'kernel unknown')}. ` +
    `Each claim of the four articles with its verdict; each scenario's ladder diagram below.</p>` +
    claimsTable(input) +
    (others ? `<h2>Not run</h2><ul>${others}</ul>` : '') +
    `<h2>Scenarios</h2><p class="legend key">${key}</p>` +
    `<p class="legend">Ladder diagrams: one lifeline per socket end (a listener's accepted sockets each their own); calls in blue on the lifeline that made them (red when they failed); ` +
    `each end's state in a yellow box at every traced transition, passing states too (a grey dashed box: seen in a /proc snapshot, such as the timewait socket no tracepoint shows); ` +
    `a lifeline ends with × when its socket went to CLOSE. Time runs down at ${PX_PER_MS} px per ms; grey bands are gaps over ${BREAK_MS} ms, their length in the time column; ` +
    `labels are pushed down rather than overlap, so read times from the time column. Timeline: ${esc(TIMELINE_LEGEND)}.</p>` +
    traces.map(scenarioSection).join('') +
    (findings ? `<h2 id="findings">Findings beyond the articles</h2><ul>${findings}</ul>` : '') +
    `<script>${SCRIPT}</script></body></html>\n`
  );
}
