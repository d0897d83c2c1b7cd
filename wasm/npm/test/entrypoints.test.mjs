// The package loads the same API through every entry: `import`, `require`, and (in Node 18,
// which has no global Web Crypto) with `globalThis.crypto` missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import * as esm from 'didcomm-edge';

const require = createRequire(import.meta.url);
const PUBLIC = ['DidComm', 'DidCommError', 'ErrorKind', 'InMemoryDidResolver', 'InMemorySecretsResolver', 'Wallet', 'createMessage', 'receivedEnding'];

test('import exposes exactly the public API', () => {
  assert.deepEqual(Object.keys(esm).sort(), [...PUBLIC].sort());
});

test('require exposes the same API and works', async () => {
  const cjs = require('didcomm-edge');
  assert.deepEqual(Object.keys(cjs).sort(), [...PUBLIC].sort());
  const m = cjs.createMessage('https://example.org/t', { a: 1 });
  const dc = new cjs.DidComm(new cjs.InMemoryDidResolver(), new cjs.InMemorySecretsResolver());
  assert.deepEqual((await dc.unpack(dc.packPlaintext(m))).message, m);
  await assert.rejects(dc.unpack('{'), (e) => e instanceof cjs.DidCommError && e.kind === 'malformed');
});

test('package.json routes node/import, node/require and browser to the right files', () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url)));
  const root = pkg.exports['.'];
  assert.equal(root.node.import.default, './dist/node.mjs');
  assert.equal(root.node.require.default, './dist/node.cjs');
  assert.equal(root.browser.default, './dist/browser.js');
  assert.equal(require.resolve('didcomm-edge').endsWith('dist/node.cjs'), true);
  assert.equal(import.meta.resolve('didcomm-edge').endsWith('dist/node.mjs'), true);
});

const SDK = [...PUBLIC, 'generateIdentity', 'generateDidKey', 'protocolMessageTypes', 'buildProtocolMessage',
  'parseProtocolMessage', 'replyTo', 'pureAck', 'trustPingResponse', 'oobInvitationUrl', 'oobInvitationFromUrl',
  'oobAttachedMessages', 'oobReply'];

test('didcomm-edge/sdk: import and require expose the SDK API over its own module', async () => {
  const sdkEsm = await import('didcomm-edge/sdk');
  const sdkCjs = require('didcomm-edge/sdk');
  for (const api of [sdkEsm, sdkCjs]) {
    assert.deepEqual(Object.keys(api).sort(), [...SDK].sort());
    const id = api.generateIdentity('peer2');
    const dc = new api.Wallet().addIdentity(id).didComm();
    assert.equal((await dc.resolve(id.did)).id, id.did);
  }
  // One error class for every entry, so `instanceof` holds whichever entry threw.
  assert.equal(sdkEsm.DidCommError, esm.DidCommError);
  assert.throws(() => sdkEsm.generateIdentity('x'), esm.DidCommError);
  // The entries load different modules: the main entry's engine has no routing.
  assert.equal(typeof esm.DidComm.prototype.route, 'undefined');
  assert.equal(typeof sdkEsm.DidComm.prototype.route, 'function');
  assert.ok(require.resolve('didcomm-edge/sdk').endsWith('dist/sdk-node.cjs'));
  assert.ok(import.meta.resolve('didcomm-edge/sdk').endsWith('dist/sdk-node.mjs'));
});

for (const [label, code] of [
  ['ESM', "delete globalThis.crypto; const m = await import('didcomm-edge'); console.log(m.createMessage('t').id.length)"],
  ['CommonJS', "delete globalThis.crypto; const m = require('didcomm-edge'); console.log(m.createMessage('t').id.length)"],
]) {
  test(`${label} works without a global crypto (as on Node 18)`, () => {
    const args = label === 'ESM' ? ['--input-type=module', '-e', code] : ['-e', code];
    const out = execFileSync(process.execPath, args, { cwd: new URL('..', import.meta.url), encoding: 'utf8' });
    assert.equal(out.trim(), '36');
  });
}
