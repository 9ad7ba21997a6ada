/**
 * D-Bus decoding bench: the agent's cost of one systemd PropertiesChanged signal (a unit's and a service's, as
 * systemd sends them while a service starts: timestamps, ExecStart), decoded as dbus-next's connection does
 * (unmarshal, then its JS format), before and after src/agent/dbus-io.ts. Each in a child process per V8
 * mode, as shoald runs: an agent with the compilers off (src/daemon/tiering.ts), an agent-only machine under
 * --lite-mode, and with V8's compilers on (a leader). Prints µs per signal and the ratio.
 * Usage: npm run bench:dbus [-- SIGNALS]   (default 20,000 of each kind)
 */
import { spawnSync } from 'node:child_process';

const MEASURE = process.argv[2] === '--measure';
const N = Number((MEASURE ? process.argv[3] : process.argv[2]) ?? 20_000);
const MODES: [string, string[]][] = [
  ['agent (compilers off)', ['--no-opt', '--no-sparkplug']],
  ['agent-only (--lite-mode)', ['--lite-mode']],
  ['compilers on', []],
];

/* eslint-disable @typescript-eslint/no-require-imports */
function measure(): void {
  const message = require('dbus-next/lib/message') as { marshall(m: object): [Buffer]; unmarshall(b: Buffer): object };
  const compat = require('dbus-next/lib/marshall-compat') as { messageToJsFmt(m: object): object };
  const ts = (n: number | bigint) => ['t', BigInt(n)];
  const now = 1764567890123456n;
  const unit = [['ActiveState', ['s', 'active']], ['SubState', ['s', 'running']], ['StateChangeTimestamp', ts(now)], ['StateChangeTimestampMonotonic', ts(123456789)],
    ['InactiveExitTimestamp', ts(now)], ['InactiveExitTimestampMonotonic', ts(123456789)], ['ActiveEnterTimestamp', ts(now)], ['ActiveEnterTimestampMonotonic', ts(123456789)],
    ['ActiveExitTimestamp', ts(0)], ['ActiveExitTimestampMonotonic', ts(0)], ['InactiveEnterTimestamp', ts(0)], ['InactiveEnterTimestampMonotonic', ts(0)],
    ['Job', ['(uo)', [0, '/']]], ['ConditionResult', ['b', true]], ['AssertResult', ['b', true]], ['ConditionTimestamp', ts(now)],
    ['ConditionTimestampMonotonic', ts(123456)], ['AssertTimestamp', ts(now)], ['AssertTimestampMonotonic', ts(12345)], ['InvocationID', ['ay', Buffer.alloc(16)]]];
  const exec = ['/bin/sleep', ['/bin/sleep', 'infinity'], false, now, 1234n, 0n, 0n, 1234, 0, 0];
  const service = [['MainPID', ['u', 1234]], ['ControlPID', ['u', 0]], ['StatusText', ['s', '']], ['StatusErrno', ['i', 0]], ['Result', ['s', 'success']],
    ['ExecMainStartTimestamp', ts(now)], ['ExecMainStartTimestampMonotonic', ts(1234)], ['ExecMainExitTimestamp', ts(0)], ['ExecMainExitTimestampMonotonic', ts(0)],
    ['ExecMainPID', ['u', 1234]], ['ExecMainCode', ['i', 0]], ['ExecMainStatus', ['i', 0]], ['ExecStart', ['a(sasbttttuii)', [exec]]], ['NRestarts', ['u', 0]],
    ['CPUUsageNSec', ts(2n ** 64n - 1n)], ['MemoryCurrent', ts(2n ** 64n - 1n)], ['TasksCurrent', ts(1)]];
  const signal = (iface: string, props: unknown[]) => message.marshall({ serial: 1, type: 4, path: '/org/freedesktop/systemd1/unit/web_2d1_2eservice',
    interface: 'org.freedesktop.DBus.Properties', member: 'PropertiesChanged', signature: 'sa{sv}as', body: [`org.freedesktop.systemd1.${iface}`, props, []] })[0];
  const signals = [signal('Unit', unit), signal('Service', service)];
  const run = (): number => {
    for (let i = 0; i < N / 10; i++) for (const s of signals) compat.messageToJsFmt(message.unmarshall(s));
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) for (const s of signals) compat.messageToJsFmt(message.unmarshall(s));
    return Number(process.hrtime.bigint() - t0) / 1000 / (N * signals.length);
  };
  const before = run();
  (require('../src/agent/dbus-io') as typeof import('../src/agent/dbus-io')).speedUpDbusDecoding();
  process.stdout.write(JSON.stringify({ before, after: run() }));
}
/* eslint-enable @typescript-eslint/no-require-imports */

if (MEASURE) {
  measure();
} else {
  console.log(`D-Bus decoding, µs per PropertiesChanged signal (a unit's and a service's alternately, ${N} each):`);
  for (const [label, flags] of MODES) {
    const r = spawnSync(process.execPath, [...flags, __filename, '--measure', String(N)], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, NODE_NO_WARNINGS: '1' } });
    if (r.status !== 0) throw new Error(`${label}: exited ${r.status}: ${r.stderr}`);
    const { before, after } = JSON.parse(r.stdout) as { before: number; after: number };
    console.log(`  ${label.padEnd(26)} dbus-next ${before.toFixed(1).padStart(6)}  sped up ${after.toFixed(1).padStart(6)}  (${(before / after).toFixed(2)}× faster)`);
  }
}
