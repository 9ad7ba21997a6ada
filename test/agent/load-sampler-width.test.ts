/**
 * The load sampler's accounting asks share the agent's 64 D-Bus call slots with its starts and stops: it asks
 * 8 units at a time, starts no ask after its 2 s deadline, and its next round begins with the units the last
 * one did not reach. Pure logic: a scripted Systemd whose answers take 250 ms (the real sampler is tested
 * against systemd in systemd-dbus.test.ts).
 */
import t from 'tap';
import { ProcLoadSampler } from '../../src/agent/load-sampler';
import type { Systemd } from '../../src/agent/systemd';

t.test('at most 8 asks at once, none after the deadline, the next round starts where this one stopped', async (t) => {
  let inFlight = 0;
  let maxInFlight = 0;
  const asked: string[] = [];
  const systemd = {
    unitUsage: async (name: string) => {
      asked.push(name);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 250));
      inFlight--;
      return { cpuNSec: 1e9 };
    },
  } as unknown as Systemd;
  const sampler = new ProcLoadSampler(systemd, '/');
  const units = Array.from({ length: 200 }, (_, i) => `u${String(i).padStart(3, '0')}.service`);
  const t0 = Date.now();
  await sampler.sample(units);
  const round1 = [...asked];
  t.ok(maxInFlight <= 8, `at most 8 at once (saw ${maxInFlight})`);
  t.ok(round1.length < units.length && round1.length >= 16, `the round stopped at its deadline (${round1.length} asked)`);
  t.ok(Date.now() - t0 < 2000 + 250 + 500, 'the round ended about one deadline plus one answer after it began');
  asked.length = 0;
  await sampler.sample(units);
  t.notOk(round1.includes(asked[0]), `round 2 began with a unit round 1 did not ask (${asked[0]})`);
  t.equal(new Set([...round1, ...asked]).size, round1.length + asked.length, 'no unit asked twice before every unit had its turn');
});
