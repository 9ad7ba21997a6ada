/**
 * The web status page in a real headless Chromium (Debian's chromium, driven by playwright-core) against a
 * testbed: node1's shoald serves the page beyond loopback with a token; the page lists the testbed's machines
 * and units and why one is unplaced; killing node2 updates the page without a reload within TTL + 2 s; a
 * request from a non-loopback address without the token is refused. Screenshots go to test-artifacts/web/.
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
    await page.screenshot({ path: join(ARTIFACTS, 'desktop.png'), fullPage: true });
  });

  await t.test(`killing node2 updates the page within TTL + 2 s (${TTL_S + 2} s), without a reload`, async (t) => {
    await page.evaluate(() => { window.notReloaded = true; });
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
    t.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
    await page.screenshot({ path: join(ARTIFACTS, 'after-kill.png'), fullPage: true });
  });

  await t.test('usable on a phone-sized screen', async (t) => {
    const phone = await browser.newContext({ httpCredentials: { username: 'shoal', password: TOKEN }, viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true });
    const p = await phone.newPage();
    await p.goto(url);
    await p.waitForSelector(`[data-machine="${m1}"]`, { timeout: 30_000 });
    const width = await p.evaluate(() => document.documentElement.scrollWidth);
    t.ok(width <= 390, `the page fits the screen's width (${width} px): wide tables scroll in their own box`);
    await p.screenshot({ path: join(ARTIFACTS, 'phone.png'), fullPage: false });
    await phone.close();
  });
});
