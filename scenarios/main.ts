/**
 * `npm run scenarios [-- NAME...]`: brings the platform up (SHOAL_PLATFORM=testbed by default, or
 * vagrant), runs the named scenarios (all by default), prints the table, tears down, and exits
 * 1 when any scenario failed (2 on a usage error). `--list` prints the scenarios. `--etcd 3`: the
 * 3-member etcd scenarios (all of them, or those named) on a testbed with a 3-member etcd.
 */
import { etcdClusterScenarios, selectScenarios, allScenarios } from './all';
import { createPlatform } from './platforms';
import { formatTable, runScenarios } from './runner';

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--list')) {
    for (const s of allScenarios) console.log(`${s.name.padEnd(20)} ${s.title}`);
    for (const s of etcdClusterScenarios) console.log(`${s.name.padEnd(20)} ${s.title} (--etcd 3)`);
    return 0;
  }
  let scenarios;
  let platform;
  try {
    const e = argv.indexOf('--etcd');
    const members = e >= 0 ? argv[e + 1] : '1';
    if (members !== '1' && members !== '3') throw new Error(`--etcd takes 1 or 3, got ${members}`);
    const names = argv.filter((a, i) => !a.startsWith('-') && !(e >= 0 && i === e + 1));
    if (members === '3') {
      const unknown = names.filter((n) => !etcdClusterScenarios.some((s) => s.name === n));
      if (unknown.length) throw new Error(`unknown 3-member etcd scenario ${unknown.join(', ')}; known: ${etcdClusterScenarios.map((s) => s.name).join(' ')}`);
      scenarios = names.length ? etcdClusterScenarios.filter((s) => names.includes(s.name)) : etcdClusterScenarios;
    } else scenarios = selectScenarios(names);
    platform = createPlatform(process.env.SHOAL_PLATFORM ?? 'testbed', members === '3' ? 3 : 1);
  } catch (err) {
    console.error(`scenarios: ${(err as Error).message}`);
    return 2;
  }
  const t0 = Date.now();
  const log = (l: string) => console.error(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${l}`);
  const stop = () => { void platform.down().finally(() => process.exit(130)); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    log(`bringing up the ${platform.name} cluster`);
    await platform.up();
    const rows = await runScenarios(platform, scenarios, { log });
    console.log(formatTable(rows));
    const na = rows.filter((r) => r.notInjectable).length;
    console.log(`${rows.filter((r) => r.passed).length}/${rows.length - na} passed${na ? ` (${na} not injectable here)` : ''} in ${((Date.now() - t0) / 1000).toFixed(0)} s on ${platform.name}`);
    return rows.every((r) => r.passed || r.notInjectable) ? 0 : 1;
  } catch (err) {
    console.error(`scenarios: ${(err as Error).stack ?? err}`);
    return 1;
  } finally {
    await platform.down().catch((err) => console.error(`scenarios: teardown failed: ${(err as Error).message}`));
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
