/**
 * The web status page in a real headless Chromium (Debian's chromium, driven by playwright-core) against a
 * testbed: node1's shoald serves the page beyond loopback with a token; the page lists the testbed's machines
 * and units and why one is unplaced, which engine leads and a batch job run to success; killing node2 updates
 * the page without a reload within TTL + 2 s (and the leader, when node2 led); a request from a non-loopback
 * address without the token is refused; on a phone-sized screen nothing overflows sideways. Screenshots go to
 * test-artifacts/web/.
 * Needs `npm run build` (the nodes run dist/) and scripts/install (chromium).
 */
import t from 'tap';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { up } from '../helpers/testbed';
import { EtcdRegistry } from '../../src/etcd/registry-etcd';
import { parseUnit } from '../../src/units';

// run in the page by playwright (the project's tsconfig has no DOM types)
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const document: any, window: any;

const ROOT = resolve(__dirname, '..', '..');
const ARTIFACTS = join(ROOT, 'test-artifacts', 'web');
const CHROMIUM = process.env.SHOAL_CHROMIUM ?? '/usr/bin/chromium';
const TOKEN = 'web-test-token';
const TTL_S = 5;

t.test('the live page on a testbed, in a real browser', async (t) => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/install (apt-get install chromium)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const tb = await up({
    nodes: 2, daemon: true, t,
    env: { SHOAL_ENV_node1: `SHOAL_HTTP_LISTEN=0.0.0.0:7412 SHOAL_API_TOKEN=${TOKEN} SHOAL_API_INSECURE_PLAINTEXT=true`, SHOAL_TTL: String(TTL_S), SHOAL_METADATA_node2: 'disk=ssd' },
  });
  const [m1, m2] = [tb.machineId('node1'), tb.machineId('node2')];
  const url = `http://${tb.ip('node1')}:7412/`;

  const reg = new EtcdRegistry({ ...tb.etcd, prefix: '/shoal/' });
  t.teardown(() => reg.close());
  const submit = async (name: string, text: string) => {
    await reg.submitUnit({ name, text, hash: parseUnit(name, text).hash }, { desired: 'launched' });
  };
  // web-a and web-b go to node2 (MachineMetadata), so killing node2 is seen on the page; huge fits nowhere
  for (const n of ['web-a', 'web-b']) await submit(`${n}.service`, '[Service]\nExecStart=/bin/sleep 100000\n[X-Shoal]\nCPU=100m\n[X-Fleet]\nMachineMetadata=disk=ssd\n');
  await submit('free.service', '[Service]\nExecStart=/bin/sleep 100000\n[X-Shoal]\nMemory=64M\n');
  await submit('huge.service', '[Service]\nExecStart=/bin/sleep 100000\n[X-Shoal]\nMemory=4096G\n');
  // a batch job on node1 (it outlives the kill): runs once, exit 0
  await submit('report.service', `[Service]\nExecStart=/bin/sh -c 'echo report done'\n[X-Shoal]\nKind=batch\n[X-Fleet]\nMachineID=${m1}\n`);
  const leaderKey = async () => { const v = await reg.currentLeader(); return v ? (JSON.parse(v) as { id: string }).id : null; };

  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], timeout: 60_000 });
  t.teardown(() => browser.close());

  await t.test('without the token, a request from a non-loopback address is refused', async (t) => {
    const anon = await browser.newContext();
    // the browser gets the 401 with a Basic challenge and, having no credentials, shows nothing of the page
    const err = await (await anon.newPage()).goto(url).then(() => null, (e: Error) => e.message);
    t.match(err, /ERR_INVALID_AUTH_CREDENTIALS/, 'the browser on the host (10.88.0.1) is refused');
    const res = await anon.request.get(`${url}api/status`);
    t.equal(res.status(), 401, 'a request without the token from 10.88.0.1: 401');
    t.match(res.headers()['www-authenticate'], /^Basic realm="shoal"/);
    await anon.close();
    // from another machine of the testbed too, and with the token it answers
    const code = async (args: string[]) => (await tb.exec('node2', ['curl', '-s', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}', ...args, `${url}api/status`])).stdout.trim();
    t.equal(await code([]), '401', `node2 (${tb.ip('node2')}) without the token: 401`);
    t.equal(await code(['-H', `Authorization: Bearer ${TOKEN}`]), '200', 'with the token: 200');
    t.equal(await code(['-H', 'Authorization: Bearer wrong']), '401', 'a wrong token: 401');
  });

  const ctx = await browser.newContext({ httpCredentials: { username: 'shoal', password: TOKEN }, viewport: { width: 1280, height: 900 } });
  const page: Page = await ctx.newPage();
  await page.goto(url);

  await t.test('the page lists the machines and units, live', async (t) => {
    await page.waitForSelector(`[data-machine="${m1}"]`, { timeout: 30_000 });
    await page.waitForSelector(`[data-machine="${m2}"]`, { timeout: 30_000 });
    t.equal(await page.locator('#conn').getAttribute('data-state'), 'live', 'the event stream is connected');
    t.match(await page.locator(`[data-machine="${m2}"]`).innerText(), /disk=ssd/, 'metadata shown');
    // every unit reported active where the engine put it
    try {
      await page.waitForFunction(() => ['web-a.service', 'web-b.service', 'free.service']
        .every((u) => document.querySelector(`#units tr[data-unit="${u}"]`)?.getAttribute('data-ok') === 'true'), undefined, { timeout: 90_000 });
    } catch (err) {
      await page.screenshot({ path: join(ARTIFACTS, 'units-not-active.png'), fullPage: true });
      throw new Error(`units not all active as desired: ${await page.locator('#units tbody').innerText()}`);
    }
    for (const u of ['web-a.service', 'web-b.service']) {
      t.match(await page.locator(`#units tr[data-unit="${u}"] td.machine`).innerText(), m2, `${u} on node2`);
      t.equal(await page.locator(`#grid tr[data-grid-unit="${u}"] td[data-m="${m2}"].s-active`).count(), 1, `${u}: grid cell on node2 is active`);
    }
    t.match(await page.locator('[data-unplaced="huge.service"]').innerText(), /why: .*memory/i, 'why huge.service is unplaced');
    t.match(await page.locator(`[data-machine="${m2}"] [data-bar="cpu"]`).innerText(), /CPU reserved 200m/, 'load bar: what node2 reserves');
    await page.locator('#units tr[data-unit="huge.service"] button.explain-btn').click();
    await page.waitForSelector('#explain:not([hidden])');
    t.match(await page.locator('#explain').innerText(), /not placed/, 'explain shows the summary');
    await page.waitForSelector('#feed li[data-kind="unit.placed"][data-subject="web-a.service"]', { timeout: 30_000 });
    t.pass('the feed shows the events stream (web-a.service placed)');
    // which engine leads: the header says the leader key's engine, its machine card says "leads"
    const leader = await leaderKey();
    t.ok(leader === m1 || leader === m2, `an engine of the testbed leads (${leader})`);
    await page.waitForSelector(`#leader[data-leader="${leader}"]`, { timeout: 30_000 });
    t.match(await page.locator('#leader').innerText(), new RegExp(`leader ${leader!.slice(0, 12)}`), 'the header names the leader');
    t.equal(await page.locator(`[data-machine="${leader}"] [data-leads]`).count(), 1, 'its machine card says it leads');
    // the batch job: its run on node1 ends with exit 0 and the page's jobs section says so
    try {
      await page.waitForSelector('#jobs tr[data-job="report.service"][data-status="succeeded"]', { timeout: 60_000 });
    } catch (err) {
      throw new Error(`report.service not shown succeeded: ${await page.locator('#jobs tbody').innerText()}`);
    }
    t.match(await page.locator('#jobs tr[data-job="report.service"]').innerText(), new RegExp(`${m1.slice(0, 12)} · status=0`), 'the job row: its run on node1, exit status 0');
    await page.waitForSelector('#units tr[data-unit="report.service"][data-ok="true"]', { timeout: 10_000 });
    t.match(await page.locator('#units tr[data-unit="report.service"]').innerText(), /job succeeded/, 'its unit row: done as desired, not "not placed"');
    await page.screenshot({ path: join(ARTIFACTS, 'desktop.png'), fullPage: true });
  });

  await t.test(`killing node2 updates the page within TTL + 2 s (${TTL_S + 2} s), without a reload`, async (t) => {
    await page.evaluate(() => { window.notReloaded = true; });
    const ledBefore = await leaderKey();
    const t0 = Date.now();
    await tb.kill('node2');
    await page.waitForFunction((id) => !document.querySelector(`[data-machine="${id}"]`), m2, { timeout: 60_000 });
    const goneMs = Date.now() - t0;
    t.comment(`node2 left the page ${goneMs} ms after the kill (TTL ${TTL_S} s)`);
    t.ok(goneMs <= (TTL_S + 2) * 1000, `gone from the page after ${goneMs} ms ≤ ${(TTL_S + 2) * 1000} ms`);
    // the feed is the cluster events stream: the leader's recorder writes machine.lost, node1's page follows it
    await page.waitForSelector(`#feed li[data-kind="machine.lost"][data-subject="${m2}"]`, { timeout: 30_000 });
    t.pass(`the feed says node2 was lost (${Date.now() - t0} ms after the kill)`);
    // the engine then moves node2's units to node1? No: MachineMetadata=disk=ssd keeps them off it, and the page says why
    await page.waitForFunction(() => ['web-a.service', 'web-b.service'].every((u) => document.querySelector(`[data-unplaced="${u}"]`)), undefined, { timeout: 60_000 });
    const movedMs = Date.now() - t0;
    t.match(await page.locator('[data-unplaced="web-a.service"]').innerText(), /why: .*disk=ssd|why: .*metadata/i, 'web-a: why it is not placed now');
    t.comment(`web-a/web-b shown unplaced (their machine gone, no other fits) ${movedMs} ms after the kill`);
    // node1's engine leads now (it took over if node2 led), and the page says so
    await page.waitForSelector(`#leader[data-leader="${m1}"]`, { timeout: 30_000 });
    t.pass(`the header shows node1's engine leading (before the kill: ${ledBefore === m2 ? 'node2' : 'node1'})`);
    t.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
    await page.screenshot({ path: join(ARTIFACTS, 'after-kill.png'), fullPage: true });
  });

  await t.test('usable on a phone-sized screen: nothing overflows sideways, every section readable', async (t) => {
    const W = 390;
    const phone = await browser.newContext({ httpCredentials: { username: 'shoal', password: TOKEN }, viewport: { width: W, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const p = await phone.newPage();
    await p.goto(url);
    await p.waitForSelector(`[data-machine="${m1}"]`, { timeout: 30_000 });
    await p.waitForSelector('#jobs tr[data-job="report.service"]', { timeout: 30_000 });
    const width = await p.evaluate(() => document.documentElement.scrollWidth);
    t.ok(width <= W, `the page is no wider than the screen (${width} px ≤ ${W})`);
    // every element outside the tables' own scroll boxes ends within the screen (wide tables scroll inside their box)
    const over: string[] = await p.evaluate((w) => [...document.querySelectorAll('body *')]
      .filter((e) => !e.closest('.scroll') && e.getClientRects().length && e.getBoundingClientRect().right > w + 0.5)
      .map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}${e.className ? `.${String(e.className).split(' ').join('.')}` : ''} right=${Math.round(e.getBoundingClientRect().right)}`), W);
    t.same(over, [], 'nothing sticks out to the right');
    // each section: its heading on screen width, its text at least 12 px, its box inside the screen
    const sections: { id: string; title: string; left: number; right: number; minFont: number }[] = await p.evaluate(() => [...document.querySelectorAll('main > section')].map((s) => {
      const r = s.getBoundingClientRect();
      const fonts = [...s.querySelectorAll('h2, td, li, .card, .dep')].map((e) => parseFloat(window.getComputedStyle(e).fontSize));
      return { id: s.id, title: s.querySelector('h2')?.textContent?.trim() ?? '', left: r.left, right: r.right, minFont: Math.min(...fonts, 99) };
    }));
    t.same(sections.map((x) => x.id), ['machines-section', 'grid-section', 'units-section', 'deploy-section', 'jobs-section', 'feed-section'], 'every section is there, one column');
    for (const x of sections) {
      t.ok(x.left >= 0 && x.right <= W, `${x.title}: within the screen (${Math.round(x.left)}..${Math.round(x.right)} px)`);
      t.ok(x.minFont >= 12, `${x.title}: text at least 12 px (${x.minFont})`);
    }
    await p.screenshot({ path: join(ARTIFACTS, 'phone.jpg'), fullPage: false, type: 'jpeg', quality: 75 });
    await p.screenshot({ path: join(ARTIFACTS, 'phone-full.jpg'), fullPage: true, type: 'jpeg', quality: 70 });
    await phone.close();
  });
});
