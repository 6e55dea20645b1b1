/**
 * The lab's HTML page in a real browser: headless Chromium (Debian's `chromium`, driven by
 * playwright-core) opens it from file://, with no console error, one ladder diagram per scenario,
 * and a verdict filter that works; it saves a screenshot. Skips when /usr/bin/chromium is absent
 * (CI does not need it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { renderHtmlReport } from '../../src/lab/report/html.js';
import { judgeRecorded, readRecordedTraces } from '../../src/lab/report/recorded.js';

const CHROMIUM = '/usr/bin/chromium';
const TRACES = fileURLToPath(new URL('../../../test/fixtures/traces/', import.meta.url));
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed`;

test('the page opens from file:// in headless Chromium: no console error, one diagram per scenario, a working verdict filter', { skip, timeout: 120_000 }, async (t) => {
  const { chromium } = await import('playwright-core');
  const dir = mkdtempSync(join(tmpdir(), 'tt-page-'));
  const traces = readRecordedTraces(TRACES);
  const judged = judgeRecorded(traces);
  const page = join(dir, 'lab.html');
  writeFileSync(page, renderHtmlReport({ ...judged, source: 'test/fixtures/traces' }));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  t.after(async () => {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const tab = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  const requests: string[] = [];
  tab.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  tab.on('pageerror', (e) => errors.push(String(e)));
  tab.on('request', (r) => requests.push(r.url()));
  await tab.goto(pathToFileURL(page).href);
  assert.equal(await tab.locator('section.scenario svg.ladder').count(), traces.length);
  // Each diagram is laid out by the browser at the size the SVG states.
  const sizes = await tab.locator('svg.ladder').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().height));
  assert.ok(sizes.every((h) => h > 100), `diagram heights ${sizes.join(', ')}`);

  const rows = tab.locator('#claims tbody tr.claim');
  const visible = (): Promise<{ verdict: string | null; article: string | null }[]> =>
    rows.evaluateAll((els) => els.filter((e) => !e.hasAttribute('hidden')).map((e) => ({ verdict: e.getAttribute('data-verdict'), article: e.getAttribute('data-article') })));
  assert.equal((await visible()).length, judged.claims.length);
  const contradicted = judged.claims.filter((c) => c.verdict === 'contradicted').length;
  await tab.selectOption('#f-verdict', 'contradicted');
  const shown = await visible();
  assert.equal(shown.length, contradicted);
  assert.ok(shown.every((r) => r.verdict === 'contradicted'));
  assert.equal(await tab.locator('#f-count').textContent(), `${contradicted} of ${judged.claims.length} claims`);
  await tab.selectOption('#f-article', '003');
  const both = await visible();
  assert.equal(both.length, judged.claims.filter((c) => c.verdict === 'contradicted' && c.claim.startsWith('003-')).length);
  await tab.selectOption('#f-verdict', '');
  await tab.selectOption('#f-article', '');
  assert.equal((await visible()).length, judged.claims.length);

  // A claim's link leads to its scenario's diagram.
  const first = judged.claims.find((c) => c.findings.length > 0);
  if (first) {
    await tab.locator(`#claim-${first.claim} a`).first().click();
    assert.ok(tab.url().endsWith(`#sc-${first.findings[0]?.scenario}`), tab.url());
  }
  const shot = join(tmpdir(), 'teardown-lab-page.png');
  await tab.screenshot({ path: shot });
  assert.ok(statSync(shot).size > 10_000);
  t.diagnostic(`screenshot: ${shot}`);
  assert.deepEqual(errors, []);
  assert.deepEqual(requests.filter((u) => !u.startsWith('file:')), [], 'nothing fetched');
});
