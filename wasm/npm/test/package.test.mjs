// The package as a user gets it: `npm pack` (its prepack makes dist/ and copies LICENSE and
// NOTICE), the tarball installed into a fresh project outside the repository with no network,
// then `import`, `require` and a pack/unpack round trip from that project only.
// prepack rebuilds dist/ when it is not the build of the current sources: run after `make wasm`
// (as `make test-wasm` does), this test reuses that build and takes seconds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const NPM_DIR = fileURLToPath(new URL('..', import.meta.url));
const ROOT = join(NPM_DIR, '..', '..');
const IDS = join(ROOT, 'testdata', 'vectors', 'ids');
let work;
let project;
let packed;

const npm = (args, cwd) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const node = (args, input) =>
  execFileSync(process.execPath, args, { cwd: project, encoding: 'utf8', input, env: { ...process.env, NODE_PATH: '' } });

before(() => {
  work = realpathSync(mkdtempSync(join(tmpdir(), 'didcomm-edge-pack-')));
  [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', work], NPM_DIR));
  project = join(work, 'consumer');
  execFileSync('mkdir', [project]);
  writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'consumer', version: '1.0.0', private: true })}\n`);
  // The package has no dependencies: an install that needed the registry would fail offline.
  npm(['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', join(work, packed.filename)], project);
});

after(() => rmSync(work, { recursive: true, force: true }));

test('the tarball holds dist/, the declarations, README, LICENSE and NOTICE', () => {
  const files = packed.files.map((f) => f.path).sort();
  for (const name of ['LICENSE', 'NOTICE', 'README.md', 'package.json', 'index.d.ts', 'index.d.cts',
    'dist/didcomm_edge_bg.wasm', 'dist/didcomm_edge.js', 'dist/node.mjs', 'dist/node.cjs', 'dist/browser.js',
    'sdk.d.ts', 'sdk.d.cts', 'dist/didcomm_edge_sdk_bg.wasm', 'dist/didcomm_edge_sdk.js', 'dist/sdk-node.mjs',
    'dist/sdk-node.cjs', 'dist/sdk-browser.js']) {
    assert.ok(files.includes(name), `${name} missing from the tarball: ${files.join(', ')}`);
  }
  assert.deepEqual(files.filter((f) => f.startsWith('test/') || f.startsWith('src/') || f.startsWith('scripts/')), []);
  const version = JSON.parse(readFileSync(join(NPM_DIR, 'package.json'), 'utf8')).version;
  assert.equal(packed.version, version);
});

test('the installed package is a copy, with the license files', () => {
  const installed = join(project, 'node_modules', 'didcomm-edge');
  assert.equal(realpathSync(installed), installed, 'installed as a link into the repository');
  assert.equal(readFileSync(join(installed, 'LICENSE'), 'utf8'), readFileSync(join(ROOT, 'LICENSE'), 'utf8'));
  assert.match(readFileSync(join(installed, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0, January 2004/);
  assert.ok(existsSync(join(installed, 'NOTICE')));
});

const ROUND_TRIP = (load) => `
  const { Wallet, createMessage } = ${load};
  const input = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
  const alice = new Wallet(input.alice).didComm();
  const bob = new Wallet(input.bob).didComm();
  const message = createMessage('https://didcomm.org/basicmessage/2.0/message', { content: 'hi' },
    { from: input.aliceDid, to: [input.bobDid] });
  alice.packEncrypted(message, input.bobDid, { from: input.aliceDid })
    .then(({ packed }) => bob.unpack(packed))
    .then(({ message: received, metadata }) => {
      console.log(JSON.stringify({ resolved: require.resolve('didcomm-edge'), content: received.body.content,
        same: received.id === message.id, authenticated: metadata.authenticated }));
    });
`;

const parties = () => JSON.stringify({
  alice: JSON.parse(readFileSync(join(IDS, 'spec-alice.json'), 'utf8')),
  bob: JSON.parse(readFileSync(join(IDS, 'spec-bob.json'), 'utf8')),
  aliceDid: 'did:example:alice',
  bobDid: 'did:example:bob',
});

for (const [label, args, load] of [
  ['require', ['-e'], "require('didcomm-edge')"],
  ['import', ['--input-type=module', '-e'], "await import('didcomm-edge')"],
]) {
  test(`${label} from the fresh project: authcrypt round trip`, () => {
    const code = label === 'import'
      ? `import { createRequire } from 'node:module'; const require = createRequire(process.cwd() + '/');\n${ROUND_TRIP(load)}`
      : ROUND_TRIP(load);
    const out = JSON.parse(node([...args, code], parties()));
    assert.ok(out.resolved.startsWith(join(project, 'node_modules', 'didcomm-edge')), out.resolved);
    assert.deepEqual({ ...out, resolved: undefined }, { resolved: undefined, content: 'hi', same: true, authenticated: true });
  });
}

test('didcomm-edge/sdk from the fresh project: import and require', () => {
  for (const [args, load] of [[['-e'], "require('didcomm-edge/sdk')"], [['--input-type=module', '-e'], "await import('didcomm-edge/sdk')"]]) {
    const out = node([...args, `const { generateIdentity } = ${load}; console.log(generateIdentity('peer2').did.slice(0, 11))`]);
    assert.equal(out.trim(), 'did:peer:2.');
  }
});
