// The hand-written declarations compile against a usage file that touches the whole API (and
// whose `@ts-expect-error` lines prove misuse is rejected): `tsc --noEmit`, with Node's module
// resolution (import and require) and with a bundler's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const pkg = fileURLToPath(new URL('..', import.meta.url));
const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));

function compile(project) {
  try {
    execFileSync(process.execPath, [tsc, '-p', project], { cwd: pkg, encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    assert.fail(`tsc -p ${project} failed:\n${err.stdout}${err.stderr}`);
  }
}

test('index.d.cts is index.d.ts; sdk.d.cts is sdk.d.ts over index.d.cts', () => {
  // The build makes them; keep them current when testing an unbuilt checkout too.
  copyFileSync(new URL('../index.d.ts', import.meta.url), new URL('../index.d.cts', import.meta.url));
  assert.equal(readFileSync(new URL('../index.d.cts', import.meta.url), 'utf8'), readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8'));
  const sdk = readFileSync(new URL('../sdk.d.ts', import.meta.url), 'utf8');
  writeFileSync(new URL('../sdk.d.cts', import.meta.url), sdk.replaceAll("'./index.js'", "'./index.cjs'"));
});

test('tsc --noEmit: NodeNext resolution (import and require)', () => compile('test/types/tsconfig.json'));

test('tsc --noEmit: Bundler resolution', () => compile('test/types/tsconfig.bundler.json'));

test('every method the declarations promise exists at runtime, and no more', async () => {
  const api = await import('didcomm-edge');
  const dts = readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8');
  for (const name of ['DidComm', 'InMemoryDidResolver', 'InMemorySecretsResolver', 'Wallet']) {
    const body = dts.match(new RegExp(`export class ${name}\\b[^{]*\\{([\\s\\S]*?)\\n\\}`))[1];
    const declared = [...body.matchAll(/^ {2}(?!static )(\w+)\(/gm)].map((m) => m[1]).filter((n) => n !== 'constructor').sort();
    const actual = Object.getOwnPropertyNames(api[name].prototype).filter((n) => n !== 'constructor' && !n.startsWith('__')).sort();
    assert.deepEqual(actual, declared, name);
  }
});

/** The methods a class of a declaration file declares (not `constructor`, not static). */
function declaredMethods(dts, name) {
  const body = dts.match(new RegExp(`export class ${name}\\b[^{]*\\{([\\s\\S]*?)\\n\\}`))[1];
  return [...body.matchAll(/^ {2}(?!static )(\w+)\(/gm)].map((m) => m[1]).filter((n) => n !== 'constructor');
}

test('didcomm-edge/sdk: every function and method declared exists at runtime, and no more', async () => {
  const sdk = await import('didcomm-edge/sdk');
  const index = readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8');
  const dts = readFileSync(new URL('../sdk.d.ts', import.meta.url), 'utf8');
  // The SDK's classes extend the main entry's: their methods are both files' together.
  for (const name of ['DidComm', 'Wallet']) {
    const declared = [...new Set([...declaredMethods(index, name), ...declaredMethods(dts, name)])].sort();
    const actual = [];
    for (let proto = sdk[name].prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
      actual.push(...Object.getOwnPropertyNames(proto).filter((n) => n !== 'constructor' && !n.startsWith('__')));
    }
    assert.deepEqual([...new Set(actual)].sort(), declared, name);
  }
  const functions = (text) => [...text.matchAll(/^export function (\w+)\(/gm)].map((m) => m[1]);
  const classes = (text) => [...text.matchAll(/^export (?:declare )?(?:class|const) (\w+)\b/gm)].map((m) => m[1]);
  const declared = [...new Set([...functions(index), ...functions(dts), ...classes(index), ...classes(dts)])].sort();
  assert.deepEqual(Object.keys(sdk).sort(), declared);
});

test('the metadata the engine returns is what the declarations say', async () => {
  // The engine serializes the core's own structs (camelCase, absent fields left out): a field
  // added to the core must be declared here too, and a declared field must exist.
  const { Wallet, createMessage } = await import('didcomm-edge');
  const { makeParty, walletOf } = await import('./parties.mjs');
  const dts = readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8');
  const declared = (name) => {
    const body = dts.match(new RegExp(`export interface ${name} \\{([\\s\\S]*?)\\n\\}`))[1];
    const fields = [...body.matchAll(/^ {2}(\w+)(\??):/gm)];
    return { all: fields.map((m) => m[1]).sort(), required: fields.filter((m) => !m[2]).map((m) => m[1]).sort() };
  };
  const carol = makeParty('carol', { ka: ['X25519'], sign: ['Ed25519'] });
  const dave = makeParty('dave', { ka: ['X25519'], sign: ['Ed25519'] });
  const carolDc = new Wallet(walletOf(carol, dave)).didComm();
  const daveDc = new Wallet(walletOf(dave, carol)).didComm();
  const msg = createMessage('https://example.com/p/1.0/m', {}, { from: carol.did, to: [dave.did] });
  const check = (name, metadata, wantAll) => {
    const { all, required } = declared(name);
    const keys = Object.keys(metadata).sort();
    for (const key of keys) assert.ok(all.includes(key), `${name}.${key} is not declared`);
    for (const key of required) assert.ok(keys.includes(key), `${name}.${key} is declared required but absent`);
    if (wantAll) assert.deepEqual(keys, all, name);
  };
  const encrypted = await carolDc.packEncrypted(msg, dave.did, {
    from: carol.kaKids.X25519, signBy: carol.signKids.Ed25519, protectSender: true,
  });
  check('PackEncryptedMetadata', encrypted.metadata, true);
  check('PackSignedMetadata', (await carolDc.packSigned(msg, carol.signKids.Ed25519)).metadata, true);
  const { metadata } = await daveDc.unpack(encrypted.packed);
  check('UnpackMetadata', metadata, false);
  // Everything but the rotation fields is present for a signed, protected authcrypt message.
  assert.deepEqual(Object.keys(metadata).sort(), declared('UnpackMetadata').all.filter((k) => !k.startsWith('fromPrior')));
});
