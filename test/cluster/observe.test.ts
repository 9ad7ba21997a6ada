/**
 * Issue 13 on the testbed (3 nodes running shoald): `shoalctl events -f` shows a node kill's events in
 * order (machine lost, unit moved, unit started on the new machine), and goes on through a restart of the
 * shoald it follows (a leader change when that one led) with nothing lost or printed twice; /metrics scraped from every node
 * parses strictly and its counters move (a placement, then a move after the kill); shoald logs to journald
 * with priorities and no timestamps of its own. One testbed bring-up.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { up } from '../helpers/testbed';
import { ApiClient } from '../../src/api/client';
import { parsePromText, sampleSum, sampleValue, type Family } from '../helpers/prom-text';

const ROOT = resolve(__dirname, '..', '..');
const TOKEN = 'observe-test-token';
const TS_LOADER = join(ROOT, 'node_modules/@tapjs/typescript/dist/esm/import.mjs');
const UNIT = '[Service]\nExecStart=/bin/sleep 100000\n[X-Fleet]\nMachineMetadata=role=obs\n';

async function until<T>(f: () => Promise<T | undefined | null | false>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** /metrics of one node (the web listener, token beyond loopback), parsed strictly; null when unreachable. */
async function scrape(ip: string): Promise<Map<string, Family> | null> {
  try {
    const res = await fetch(`http://${ip}:7412/metrics`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(5000) });
    if (res.status !== 200) throw new Error(`/metrics on ${ip}: HTTP ${res.status}`);
    return parsePromText(await res.text());
  } catch (err) {
    if ((err as Error).message.startsWith('/metrics')) throw err;
    return null;
  }
}

t.test('events -f of a node kill, metrics moving, journald logs', async (t) => {
  const tb = await up({
    nodes: 3, daemon: true, t,
    env: {
      SHOAL_ENV: `SHOAL_API_LISTEN=unix:///run/shoal/shoal.sock,0.0.0.0:7411 SHOAL_API_TOKEN=${TOKEN} SHOAL_API_INSECURE_PLAINTEXT=true SHOAL_API_PORT=7411 SHOAL_HTTP_LISTEN=0.0.0.0:7412`,
      SHOAL_METADATA_node2: 'role=obs', SHOAL_METADATA_node3: 'role=obs',
    },
  });
  const endpoint = `${tb.ip('node1')}:7411`;
  const api = new ApiClient({ endpoint, token: TOKEN });
  t.teardown(() => api.close());
  await until(async () => (await api.listMachines()).length === 3, 60_000, 'three machines');
  const t0 = Date.now();

  // shoalctl events -f, started before anything happens
  const follower = spawn(process.execPath, [`--import=file://${TS_LOADER}`, join(ROOT, 'src/cli/main.ts'), 'events', '-f', '--since', new Date(t0).toISOString()], {
    env: { ...process.env, SHOAL_ENDPOINT: endpoint, SHOAL_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  follower.stdout.on('data', (b) => { out += b.toString(); });
  follower.stderr.on('data', (b) => { err += b.toString(); });
  const exited = new Promise<number | null>((r) => follower.on('exit', (c) => r(c)));
  t.teardown(() => { follower.kill('SIGKILL'); });

  await api.submitUnit('obs.service', UNIT, { desired: 'launched' });
  const first = await until(async () => (await api.listUnits(['obs.service'])).find((s) => s.activeState === 'active'), 90_000, 'obs.service active');
  const victim = tb.nodes.find((n) => tb.machineId(n) === first.machine)!;
  const survivor = victim === 'node2' ? 'node3' : 'node2';
  t.ok(victim === 'node2' || victim === 'node3', `placed on ${victim} (role=obs)`);

  // metrics before the kill: every node's text parses; one leader; the placement counted
  const before = new Map<string, Map<string, Family>>();
  for (const n of tb.nodes) before.set(n, (await scrape(tb.ip(n)))!);
  t.equal([...before.values()].reduce((a, f) => a + sampleValue(f, 'shoal_engine_leader'), 0), 1, 'exactly one node says it leads');
  t.ok([...before.values()].some((f) => sampleValue(f, 'shoal_engine_placements_total', { kind: 'place' }) >= 1), 'a placement was counted');
  t.ok(sampleValue(before.get(victim)!, 'shoal_agent_units', { active_state: 'active' }) >= 1, `${victim}'s agent counts the active unit`);
  t.ok(sampleSum(before.get(victim)!, 'shoal_agent_reconcile_passes_total') >= 1, 'reconcile passes are counted');
  t.ok(sampleSum(before.get('node1')!, 'shoal_api_requests_total', { method: 'SubmitUnit', code: 'OK' }) >= 1, 'the API counted our submit');
  t.ok(sampleSum(before.get('node1')!, 'shoal_etcd_requests_total') >= 1, 'etcd requests are counted');

  await tb.kill(victim);
  const killedAt = Date.now();
  const moved = await until(async () => (await api.listUnits(['obs.service'])).find((s) => s.activeState === 'active' && s.machine === tb.machineId(survivor)), 90_000, `obs.service active on ${survivor}`);
  t.ok(moved, `failover to ${survivor} after ${Date.now() - killedAt} ms`);

  // the follower printed the kill's events in order
  const lost = new RegExp(`machine\\.lost\\s+${tb.machineId(victim).slice(0, 8)}`);
  const movedRe = new RegExp(`unit\\.moved\\s+obs\\.service @${tb.machineId(survivor).slice(0, 8)}`);
  const started = new RegExp(`unit\\.started\\s+obs\\.service @${tb.machineId(survivor).slice(0, 8)}`);
  await until(async () => started.test(out), 30_000, `the follower to print the start on ${survivor}: ${out}${err}`);
  const lines = out.split('\n');
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  t.ok(at(/unit\.placed\s+obs\.service/) >= 0, 'placed');
  t.ok(at(lost) > at(/unit\.placed\s+obs\.service/), 'then the machine lost');
  t.ok(at(movedRe) > at(lost), 'then the unit moved to the survivor');
  t.ok(at(started) > at(movedRe), 'then it started there');

  // metrics after: someone alive counted a move (the new leader if the old one died with the node)
  const after = new Map<string, Map<string, Family>>();
  for (const n of tb.nodes.filter((x) => x !== victim)) after.set(n, (await scrape(tb.ip(n)))!);
  const moves = [...after].map(([n, f]) => sampleValue(f, 'shoal_engine_placements_total', { kind: 'move' }) - sampleValue(before.get(n)!, 'shoal_engine_placements_total', { kind: 'move' }));
  t.ok(moves.some((d) => d >= 1), `a move was counted after the kill (${moves.join(', ')})`);
  t.equal([...after.values()].reduce((a, f) => a + sampleValue(f, 'shoal_engine_leader'), 0), 1, 'one leader after the kill');

  // the shoald it follows restarts (node1; its engine may lead: then another takes over): the follower goes on
  const ledBefore = (await scrape(tb.ip('node1')))!;
  const node1Led = sampleValue(ledBefore, 'shoal_engine_leader') === 1;
  const outBefore = out.length;
  await tb.exec('node1', ['systemctl', 'restart', 'shoald']);
  await until(async () => (await api.listMachines()).length >= 2, 90_000, "node1's API back after the restart");
  await api.submitUnit('after-restart.service', UNIT, { desired: 'inactive' });
  await until(async () => /unit\.submitted\s+after-restart\.service/.test(out.slice(outBefore)), 60_000, `the follower to print the submit after the restart: ${out.slice(outBefore)}${err}`);
  t.match(err, /events: stream lost .*following again from the last event/, `the follower lost its stream and followed again (${err.trim()})`);
  if (node1Led) t.match(out.slice(outBefore), /leader\.changed/, 'node1 led: the leader change after its restart is printed');
  const printedLines = out.split('\n').filter(Boolean);
  t.equal(new Set(printedLines).size, printedLines.length, `no event printed twice (${printedLines.length} lines)`);
  t.ok(at(started) < printedLines.findIndex((l) => /unit\.submitted\s+after-restart\.service/.test(l)), 'in order: the restart\'s events after the kill\'s');
  follower.kill('SIGINT');
  t.equal(await exited, 0, `events -f exits 0 on ^C: ${err}`);
  t.comment(printedLines.filter((l) => /obs\.service|after-restart|machine\.|leader\./.test(l)).join('\n'));

  // journald: priorities from the <N> prefixes, messages without a prefix or a timestamp of ours
  const j = await tb.exec('node1', ['journalctl', '-u', 'shoald.service', '-o', 'json', '--no-pager', '-n', '200']);
  const entries = j.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { MESSAGE?: string; PRIORITY?: string });
  const ours = entries.filter((e) => typeof e.MESSAGE === 'string' && /component=/.test(e.MESSAGE));
  t.ok(ours.length > 3, `shoald's lines are in the journal (${ours.length})`);
  t.ok(ours.every((e) => !/^<\d>|^time=|^level=/.test(e.MESSAGE!)), 'no <N> prefix left, no timestamp or level of ours');
  t.ok(ours.some((e) => e.PRIORITY === '6'), 'info lines have priority 6');
});
