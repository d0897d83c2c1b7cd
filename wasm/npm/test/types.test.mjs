// The hand-written declarations compile against a usage file that touches the whole API (and
// whose `@ts-expect-error` lines prove misuse is rejected): `tsc --noEmit`, with Node's module
// resolution (import and require) and with a bundler's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
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

test('index.d.cts is index.d.ts', () => {
  // The build copies it; keep them equal when testing an unbuilt checkout too.
  copyFileSync(new URL('../index.d.ts', import.meta.url), new URL('../index.d.cts', import.meta.url));
  assert.equal(readFileSync(new URL('../index.d.cts', import.meta.url), 'utf8'), readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8'));
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
