import t from 'tap';
import { ValidationError } from '../../src/errors';
import { parseContainer, parseUnitFile, parseUnitName } from '../../src/units';
import type { ContainerSpec } from '../../src/units';

const parse = (body: string, name = 'c.service'): ContainerSpec | undefined =>
  parseContainer(parseUnitFile(`[Service]\nRestart=always\n[X-Container]\n${body}`), parseUnitName(name), { file: name });

const base = { command: [], env: {}, ports: [], volumes: [] };

const good: Array<{ name: string; body: string; want: ContainerSpec }> = [
  { name: 'image only', body: 'Image=localbusybox:latest', want: { ...base, image: 'localbusybox:latest' } },
  { name: 'registry host, port, path, tag', body: 'Image=registry.example.com:5000/team/app:1.2.3', want: { ...base, image: 'registry.example.com:5000/team/app:1.2.3' } },
  { name: 'localhost registry', body: 'Image=localhost/app', want: { ...base, image: 'localhost/app' } },
  { name: 'digest', body: `Image=busybox@sha256:${'a'.repeat(64)}`, want: { ...base, image: `busybox@sha256:${'a'.repeat(64)}` } },
  { name: 'last Image wins', body: 'Image=a\nImage=b', want: { ...base, image: 'b' } },
  {
    name: 'command with quotes and escapes',
    body: `Image=x\nCommand=/bin/sh -c 'echo "hi there"; sleep 1' "a \\"b\\"" c\\ d ''`,
    want: { ...base, image: 'x', command: ['/bin/sh', '-c', 'echo "hi there"; sleep 1', 'a "b"', 'c d', ''] },
  },
  { name: 'empty Command resets to the image default', body: 'Image=x\nCommand=/bin/a\nCommand=', want: { ...base, image: 'x' } },
  {
    name: 'environment: repeatable, quoted, later wins',
    body: 'Image=x\nEnvironment=A=1 "B=two words"\nEnvironment=A=3 C=\nEnvironment=D=x=y',
    want: { ...base, image: 'x', env: { A: '3', B: 'two words', C: '', D: 'x=y' } },
  },
  { name: 'ports', body: 'Image=x\nPort=8080:80\nPort=53:53/udp 9000:9000/tcp', want: { ...base, image: 'x', ports: ['8080:80', '53:53/udp', '9000:9000/tcp'] } },
  { name: 'volumes', body: 'Image=x\nVolume=/srv/www:/www:ro\nVolume=/data:/data /a:/b:rw', want: { ...base, image: 'x', volumes: ['/srv/www:/www:ro', '/data:/data', '/a:/b:rw'] } },
  {
    name: 'compose-era keys',
    body: 'Image=x\nEntrypoint=/bin/sh -c\nUser=1000:1000\nWorkingDir=/srv\nLabel=a=1 "b=two words"\nNetwork=p_default p_back\nNetworkAlias=web\n' +
      'HealthCmd=/bin/sh -c "exit 0"\nHealthInterval=5s\nHealthTimeout=2s\nHealthRetries=4\nHealthStartPeriod=1min\nCPUs=500m\nMemory=256M\n' +
      'WaitHealthy=p-db.service p-q@1.service\nVolume=p_data:/data:ro',
    want: {
      ...base, image: 'x', entrypoint: ['/bin/sh', '-c'], user: '1000:1000', workingDir: '/srv', labels: { a: '1', b: 'two words' },
      networks: ['p_default', 'p_back'], aliases: ['web'], health: { test: ['CMD', '/bin/sh', '-c', 'exit 0'], intervalMs: 5000, timeoutMs: 2000, retries: 4, startPeriodMs: 60000 },
      cpuLimitMillis: 500, memoryLimitBytes: 268435456, waitHealthy: ['p-db.service', 'p-q@1.service'], volumes: ['p_data:/data:ro'],
    },
  },
  { name: 'HealthCmd=NONE disables the image HEALTHCHECK', body: 'Image=x\nHealthCmd=NONE', want: { ...base, image: 'x', health: { test: ['NONE'] } } },
  { name: 'empty Port resets the list', body: 'Image=x\nPort=1:1\nPort=\nPort=2:2', want: { ...base, image: 'x', ports: ['2:2'] } },
];

t.test('[X-Container] parses into a ContainerSpec', async (t) => {
  for (const c of good) t.same(parse(c.body), c.want, c.name);
  t.equal(parseContainer(parseUnitFile('[Service]\nExecStart=/bin/true\n'), parseUnitName('n.service')), undefined, 'no section → undefined');
});

const bad: Array<{ name: string; body: string; unit?: string; code: string; why: RegExp; line?: number; key?: string }> = [
  { name: 'no Image', body: 'Command=/bin/true', code: 'unit.bad-container', why: /needs Image=/, key: 'Image', line: 3 },
  { name: 'Image reset to nothing', body: 'Image=x\nImage=', code: 'unit.bad-container', why: /needs Image=/ },
  { name: 'uppercase repository', body: 'Image=Busybox', code: 'unit.bad-container', why: /name component "Busybox"/, line: 4 },
  { name: 'bad tag', body: 'Image=busybox:-x', code: 'unit.bad-container', why: /tag/ },
  { name: 'bad digest', body: 'Image=busybox@sha256:xyz', code: 'unit.bad-container', why: /digest/ },
  { name: 'space in image', body: 'Image=busy box', code: 'unit.bad-container', why: /name component/ },
  { name: 'unterminated quote in command', body: "Image=x\nCommand=/bin/sh -c 'oops", code: 'unit.bad-container', why: /unterminated single quote/, line: 5, key: 'Command' },
  { name: 'trailing backslash in command', body: 'Image=x\nCommand=a\\ \\\n\n', code: 'unit.bad-container', why: /trailing backslash/ },
  { name: 'env without =', body: 'Image=x\nEnvironment=FOO', code: 'unit.bad-container', why: /not NAME=value/ },
  { name: 'env bad name', body: 'Image=x\nEnvironment=1A=b', code: 'unit.bad-container', why: /not NAME=value/ },
  { name: 'port without container side', body: 'Image=x\nPort=8080', code: 'unit.bad-container', why: /host:container/ },
  { name: 'port out of range', body: 'Image=x\nPort=70000:80', code: 'unit.bad-container', why: /70000 outside/ },
  { name: 'port zero', body: 'Image=x\nPort=0:80', code: 'unit.bad-container', why: /port 0 outside/ },
  { name: 'bad protocol', body: 'Image=x\nPort=80:80/icmp', code: 'unit.bad-container', why: /proto/ },
  { name: 'relative host path', body: 'Image=x\nVolume=./data:/data', code: 'unit.bad-container', why: /host path "\.\/data" is not absolute/ },
  { name: 'bad volume name', body: 'Image=x\nVolume=_x:/data', code: 'unit.bad-container', why: /not a Docker volume name/ },
  { name: 'relative WorkingDir', body: 'Image=x\nWorkingDir=srv', code: 'unit.bad-container', why: /not an absolute path/, key: 'WorkingDir' },
  { name: 'bad User', body: 'Image=x\nUser=a b', code: 'unit.bad-container', why: /user\[:group\]/ },
  { name: 'Label without =', body: 'Image=x\nLabel=team', code: 'unit.bad-container', why: /not name=value/ },
  { name: "shoal's own label", body: 'Image=x\nLabel=shoal.unit=x', code: 'unit.bad-container', why: /shoal's own/ },
  { name: 'Network host', body: 'Image=x\nNetwork=host', code: 'unit.bad-container', why: /not host, none or bridge/ },
  { name: 'health timing without a command', body: 'Image=x\nHealthInterval=5s', code: 'unit.bad-container', why: /needs HealthCmd=/ },
  { name: 'bad HealthInterval', body: 'Image=x\nHealthCmd=true\nHealthInterval=soon', code: 'unit.bad-container', why: /not a time span/, line: 6 },
  { name: 'bad CPUs', body: 'Image=x\nCPUs=lots', code: 'unit.bad-container', why: /not a number of cores/ },
  { name: 'bad Memory', body: 'Image=x\nMemory=1Q', code: 'unit.bad-container', why: /not bytes/ },
  { name: 'WaitHealthy of a template', body: 'Image=x\nWaitHealthy=db@.service', code: 'unit.bad-container', why: /not a service unit name/ },
  { name: 'relative container path', body: 'Image=x\nVolume=/data:data', code: 'unit.bad-container', why: /container path "data" is not absolute/ },
  { name: 'dotdot in volume', body: 'Image=x\nVolume=/a/../etc:/x', code: 'unit.bad-container', why: /'\.\.'/ },
  { name: 'bad volume mode', body: 'Image=x\nVolume=/a:/b:rx', code: 'unit.bad-container', why: /mode "rx"/ },
  { name: 'unknown key', body: 'Image=x\nPorts=80:80', code: 'unit.unknown-key', why: /unknown key "Ports"/ },
  { name: 'fleet key misplaced', body: 'Image=x\nGlobal=true', code: 'unit.unknown-key', why: /belongs in \[X-Fleet\]/ },
  { name: 'not a service', body: 'Image=x', unit: 'c.socket', code: 'unit.container-not-service', why: /only \.service units/, line: 3 },
];

t.test('bad [X-Container] values are refused at their line', async (t) => {
  for (const c of bad) {
    try {
      t.fail(`${c.name}: accepted ${JSON.stringify(parse(c.body, c.unit))}`);
    } catch (e) {
      t.type(e, ValidationError, c.name);
      const v = e as ValidationError;
      t.equal(v.code, c.code, `${c.name}: code`);
      t.match(v.message, c.why, `${c.name}: message`);
      t.equal(v.location?.section, 'X-Container', `${c.name}: section`);
      if (c.line !== undefined) t.equal(v.location?.line, c.line, `${c.name}: line`);
      if (c.key !== undefined) t.equal(v.location?.key, c.key, `${c.name}: key`);
    }
  }
});
