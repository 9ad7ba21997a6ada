/**
 * The Vagrant cluster's files, checked statically (fast, no VM): `vagrant validate` on the
 * Vagrantfile and shellcheck on the provisioning and host scripts, each with a broken copy to prove
 * the check really fails. Installs nothing: scripts/install provides both. Booting a VM for real is
 * vagrant/test/boot.test.ts (npm run test:vagrant).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const VAGRANT_DIR = resolve(__dirname, '..', '..', 'vagrant');
const PROVISION = join(VAGRANT_DIR, 'provision');

function need(cmd: string): void {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) {
    throw new Error(`${cmd} is not installed: run scripts/install (apt-get install -y vagrant shellcheck)`);
  }
}

/** `vagrant validate -p` in `dir`, with its dot-files kept out of the repository. */
function validate(dir: string) {
  const dot = mkdtempSync(join(tmpdir(), 'shoal-vagrant-dot-'));
  try {
    return spawnSync('vagrant', ['validate', '--ignore-provider', '--no-color'], {
      cwd: dir, encoding: 'utf8', timeout: 120_000, env: { ...process.env, VAGRANT_CWD: dir, VAGRANT_DOTFILE_PATH: dot },
    });
  } finally {
    rmSync(dot, { recursive: true, force: true });
  }
}

t.test('the Vagrantfile validates, a broken one does not', async (t) => {
  need('vagrant');
  const ok = validate(VAGRANT_DIR);
  t.equal(ok.status, 0, `vagrant validate: ${ok.stderr}${ok.stdout}`);
  t.match(ok.stdout, /validated successfully/);
  for (const n of ['node1', 'node2', 'node3', 'node4']) t.match(ok.stdout, new RegExp(`${n}:`), `defines ${n}`);

  const broken = mkdtempSync(join(tmpdir(), 'shoal-vagrant-broken-'));
  t.teardown(() => rmSync(broken, { recursive: true, force: true }));
  cpSync(PROVISION, join(broken, 'provision'), { recursive: true });
  const text = readFileSync(join(VAGRANT_DIR, 'Vagrantfile'), 'utf8');
  writeFileSync(join(broken, 'Vagrantfile'), text.replace('config.vm.box =', 'config.vm.boxx ='));
  const bad = validate(broken);
  t.not(bad.status, 0, 'an unknown setting fails validation');
  t.match(`${bad.stdout}${bad.stderr}`, /boxx/);
});

t.test('the Vagrantfile and the scenario platform agree on the network', async (t) => {
  const vf = readFileSync(join(VAGRANT_DIR, 'Vagrantfile'), 'utf8');
  const pf = readFileSync(resolve(__dirname, '..', '..', 'scenarios', 'platform-vagrant.ts'), 'utf8');
  const net = /SHOAL_VAGRANT_NET", "([\d.]+)"/.exec(vf)?.[1];
  t.equal(net, '192.168.56', 'Vagrantfile network');
  t.match(pf, new RegExp(`SHOAL_VAGRANT_NET \\?\\? '${net}'`), 'platform-vagrant uses the same network');
  for (const s of ['packages.sh', 'etcd.sh', 'shoal.sh']) t.match(vf, `provision/${s}`, `Vagrantfile runs ${s}`);
});

t.test('the provisioning scripts pass shellcheck, a broken one does not', async (t) => {
  need('shellcheck');
  const scripts = readdirSync(PROVISION).filter((f) => f.endsWith('.sh')).map((f) => join(PROVISION, f));
  t.ok(scripts.length >= 3, `scripts: ${scripts.join(' ')}`);
  // the host's scripts: set-up, box build, the 3-VM scenario run, the niced QEMU
  scripts.push(...['setup', 'box/build', 'scenarios', 'qemu-niced'].map((f) => join(VAGRANT_DIR, f)));
  const r = spawnSync('shellcheck', ['--severity=style', ...scripts], { encoding: 'utf8' });
  t.equal(r.status, 0, `shellcheck: ${r.stdout}`);

  const dir = mkdtempSync(join(tmpdir(), 'shoal-sc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bad = join(dir, 'bad.sh');
  copyFileSync(scripts[0], bad);
  writeFileSync(bad, `${readFileSync(bad, 'utf8')}\nrm -rf $UNQUOTED/*\n`);
  const b = spawnSync('shellcheck', [bad], { encoding: 'utf8' });
  t.not(b.status, 0, 'an unquoted variable is flagged');
  t.match(b.stdout, /SC2086/);
});
