/**
 * `npm run scenarios [-- NAME...]`: brings the platform up (SHOAL_PLATFORM=testbed by default, or
 * vagrant), runs the named scenarios (all by default), prints the table, tears down, and exits
 * 1 when any scenario failed (2 on a usage error). `--list` prints the scenarios.
 */
import { selectScenarios, allScenarios } from './all';
import { createPlatform } from './platforms';
import { formatTable, runScenarios } from './runner';

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--list')) {
    for (const s of allScenarios) console.log(`${s.name.padEnd(20)} ${s.title}`);
    return 0;
  }
  let scenarios;
  let platform;
  try {
    scenarios = selectScenarios(argv.filter((a) => !a.startsWith('-')));
    platform = createPlatform(process.env.SHOAL_PLATFORM ?? 'testbed');
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
    console.log(`${rows.filter((r) => r.passed).length}/${rows.length} passed in ${((Date.now() - t0) / 1000).toFixed(0)} s on ${platform.name}`);
    return rows.every((r) => r.passed) ? 0 : 1;
  } catch (err) {
    console.error(`scenarios: ${(err as Error).stack ?? err}`);
    return 1;
  } finally {
    await platform.down().catch((err) => console.error(`scenarios: teardown failed: ${(err as Error).message}`));
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
