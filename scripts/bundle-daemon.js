#!/usr/bin/env node
// Bundles shoald into one file, dist/shoald.js (run by `npm run build` after tsc; bin/shoald loads it).
// One file instead of ~520 modules: no module resolution (a stat and a package.json read per require),
// one compile, smaller source in memory (docs/performance.md has the figures).
// etcd3 parses its rpc.proto with protobufjs when loaded (~30-50 ms of CPU): here it is parsed once at build
// time and the bundle carries the parsed descriptor (JSON), which proto-loader's fromJSON turns into the same
// package definition.
'use strict';
const { readFileSync } = require('node:fs');
const { dirname, join, resolve } = require('node:path');
const esbuild = require('esbuild');
// the protobufjs that proto-loader uses (its JSON is what proto-loader's fromJSON reads)
const protobuf = require(require.resolve('protobufjs', { paths: [dirname(require.resolve('@grpc/proto-loader'))] }));

const ROOT = resolve(__dirname, '..');
const ETCD3_POOL = /[\\/]node_modules[\\/]etcd3[\\/]lib[\\/]connection-pool\.js$/;
const ETCD3_LOAD = '(0, proto_loader_1.loadSync)(`${__dirname}/../proto/rpc.proto`, {';

/** etcd3's connection pool with its proto parsed at build time; throws when etcd3's code no longer matches. */
const etcd3Proto = {
  name: 'etcd3-proto',
  setup(build) {
    build.onLoad({ filter: ETCD3_POOL }, (args) => {
      const code = readFileSync(args.path, 'utf8');
      if (!code.includes(ETCD3_LOAD)) throw new Error(`${args.path}: its proto loading changed (no "${ETCD3_LOAD}"); update scripts/bundle-daemon.js`);
      // keepCase as etcd3 loads it (its field names stay snake_case)
      const root = new protobuf.Root().loadSync(join(args.path, '..', '..', 'proto', 'rpc.proto'), { keepCase: true });
      const json = JSON.stringify(root.toJSON());
      return { contents: code.replace(ETCD3_LOAD, `(0, proto_loader_1.fromJSON)(${json}, {`), loader: 'js' };
    });
  },
};

// Stand-ins for two dependencies of dependencies that shoald never uses, each ~0.5 MB of heap once loaded
// (docs/performance.md): dbus-next builds introspection XML of objects a program exports and parses that of
// proxy objects with xml2js (shoald exports none and calls systemd with plain messages; a peer introspecting
// shoald's connection gets an empty node); prom-client's default process metrics, which shoald does not
// collect, read the active OpenTelemetry span for exemplars (none without an OpenTelemetry SDK).
const STUBS = {
  xml2js: `exports.Builder = class { buildObject() { return '<node/>'; } };
    exports.Parser = class { parseString(_x, cb) { cb(new Error('shoald bundles no XML parser (dbus-next proxy objects are not used)')); } };`,
  '@opentelemetry/api': 'exports.trace = { getSpan: () => undefined }; exports.context = { active: () => undefined };',
};
const stubs = {
  name: 'stubs',
  setup(build) {
    build.onResolve({ filter: /^(xml2js|@opentelemetry\/api)$/ }, (args) => ({ path: args.path, namespace: 'shoald-stub' }));
    build.onLoad({ filter: /.*/, namespace: 'shoald-stub' }, (args) => ({ contents: STUBS[args.path], loader: 'js' }));
  },
};

esbuild.build({
  entryPoints: [join(ROOT, 'dist', 'src', 'daemon', 'main.js')],
  outfile: join(ROOT, 'dist', 'shoald.js'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  minify: true,
  sourcemap: true,
  logLevel: 'warning',
  // from node_modules when needed: x11 (dbus-next's X11 bus discovery, not installed); dockerode (with ssh2 and
  // cpu-features, native parts), which shoald loads only for a DOCKER_HOST that is not a unix socket
  metafile: !!process.env.BUNDLE_META,
  external: ['x11', 'ssh2', 'cpu-features', 'dockerode'],
  plugins: [etcd3Proto, stubs],
}).then((r) => {
  if (r.metafile) process.stdout.write(esbuild.analyzeMetafileSync(r.metafile));
}, () => process.exit(1));
