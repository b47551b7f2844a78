/**
 * The report of a tiny run, opened from its file in headless Chromium (the system package, driven
 * over the DevTools pipe): no console errors or blocked loads, tables and decoded images present,
 * and a screenshot that is a real page. Skipped only when no Chromium is installed.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeReports } from '../src/report/index.js';
import { Browser, findChromium, type CdpEvent } from './helpers/cdp.js';
import { pngStats } from './helpers/png.js';
import { tinyAeRun } from './helpers/tiny-run.js';

const chromium = findChromium();
const title = 'report of a tiny run in headless Chromium: no console errors, tables and decoded images, a non-blank screenshot';
if (!chromium) console.warn('report-browser.test.ts: skipped: no chromium on PATH (apt-get install chromium, or set CHROMIUM)');

interface PageState {
  title: string;
  order: string[];
  tables: number;
  images: Array<{ complete: boolean; width: number; height: number }>;
}

(chromium ? test : test.skip)(title, async (t) => {
  const { resultDir, result } = await tinyAeRun(await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-report-browser-')));
  t.deepEqual(result.failed, []);
  const [report] = await writeReports(resultDir);

  const started = performance.now();
  const browser = await Browser.launch(chromium!);
  try {
    const errors: string[] = [];
    const requests: string[] = [];
    browser.on((e: CdpEvent) => {
      const p = e.params as Record<string, any>;
      if (e.method === 'Runtime.exceptionThrown') errors.push(`exception: ${p.exceptionDetails?.text}`);
      if (e.method === 'Runtime.consoleAPICalled' && (p.type === 'error' || p.type === 'assert')) errors.push(`console.${p.type}: ${JSON.stringify(p.args)}`);
      if (e.method === 'Log.entryAdded' && p.entry.level === 'error') errors.push(`${p.entry.source}: ${p.entry.text}`);
      if (e.method === 'Network.requestWillBeSent') requests.push(p.request.url as string);
    });
    const { targetId } = await browser.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = (await browser.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    for (const domain of ['Runtime', 'Log', 'Page', 'Network']) await browser.send(`${domain}.enable`, {}, sessionId);
    const loaded = browser.waitFor((e) => e.method === 'Page.loadEventFired' && e.sessionId === sessionId);
    await browser.send('Page.navigate', { url: pathToFileURL(report.file).href }, sessionId);
    await Promise.race([loaded, new Promise((_, reject) => setTimeout(() => reject(new Error('page did not load in 60 s')), 60_000))]);

    const expression = `JSON.stringify({ title: document.title, tables: document.querySelectorAll('table').length,
      order: [...document.querySelectorAll('#summary, h2[id$="--machines"], #training')].map((e) => e.id),
      images: [...document.images].map((i) => ({ complete: i.complete, width: i.naturalWidth, height: i.naturalHeight })) })`;
    const evaluated = await browser.send('Runtime.evaluate', { expression, returnByValue: true }, sessionId);
    const page = JSON.parse((evaluated.result as { value: string }).value) as PageState;
    const shot = await browser.send('Page.captureScreenshot', { format: 'png' }, sessionId);
    t.log(`Chromium: launch, load, inspect and screenshot in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    t.deepEqual(errors, [], 'console errors');
    t.deepEqual(requests.filter((u) => !/^(file|data):/.test(u)), [], 'only the file itself and data: URIs');
    t.is(page.title, 'asdkit report — ae · dcase2023 · seed 0');
    // 8 result tables, the run facts, the pAUC table, one per machine, the timings.
    t.is(page.tables, 8 + 1 + 1 + result.machines.length + 1);
    // Per machine 2 UMAP figures (all sections, section 0), 5 training curves, a score histogram and a ROC figure.
    t.is(page.images.length, result.machines.length * (2 + 5 + 2));
    for (const img of page.images) t.true(img.complete && img.width > 0 && img.height > 0, JSON.stringify(img));
    t.deepEqual([...new Set(page.images.map((i) => `${i.width}x${i.height}`))].sort(), ['1600x920', '460x400', '900x340', '900x460']);
    // The summary (official scores, run, training loss) comes first, then the machines.
    t.deepEqual(page.order, ['summary', 'output--last--machines', 'training'], 'section order');

    const s = pngStats(Buffer.from(shot.data as string, 'base64'));
    t.log(`screenshot ${s.width}×${s.height}, luminance variance ${s.variance.toFixed(0)}, ${(100 * s.ink).toFixed(1)} % ink`);
    t.true(s.width >= 1000 && s.height >= 1000);
    t.true(s.variance > 200 && s.ink > 0.02, 'the page is not blank');
  } finally {
    await browser.close();
  }
});
