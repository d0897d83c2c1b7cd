// The defaults table (testdata/defaults.json), which every language's tests check: the npm
// package behaves as the table says when no option is given, and each option given as its
// default changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DidComm, DidCommError, InMemoryDidResolver, InMemorySecretsResolver } from 'didcomm-edge';

const table = JSON.parse(readFileSync(new URL('../../../testdata/defaults.json', import.meta.url), 'utf8'));
const camel = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
// Given explicitly, each default (except `now`, unset) must behave as no option at all.
const explicitDefaults = Object.fromEntries(
  Object.entries(table.unpack)
    .filter(([, value]) => value !== null)
    .map(([name, value]) => [camel(name), value]),
);

const engine = () => new DidComm(new InMemoryDidResolver(), new InMemorySecretsResolver());

async function outcome(packed, options) {
  try {
    const { metadata } = await engine().unpack(packed, options);
    return metadata.expired ? 'reported' : 'accepted';
  } catch (err) {
    assert.ok(err instanceof DidCommError, String(err));
    return 'refused';
  }
}

test('a plaintext without body is handled as the table says', async () => {
  const bodyless = '{"id":"1","type":"https://example.com/t"}';
  for (const options of [undefined, {}, explicitDefaults]) {
    assert.equal(await outcome(bodyless, options), table.behaviour.plaintext_without_body);
  }
  assert.equal(await outcome(bodyless, { requireBody: true }), 'refused');
});

test('an expired plaintext is handled as the table says', async () => {
  const expired = '{"id":"2","type":"https://example.com/t","body":{},"expires_time":1}';
  for (const options of [undefined, {}, explicitDefaults]) {
    assert.equal(await outcome(expired, options), table.behaviour.expired_message);
  }
  assert.equal(await outcome(expired, { rejectExpired: true }), 'refused');
});

test('the declared defaults are the table\'s', () => {
  // index.d.ts states each default in its comment: a second copy, kept true here.
  const declarations = readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8');
  const block = declarations.slice(declarations.indexOf('export interface UnpackOptions'));
  for (const [name, value] of Object.entries(explicitDefaults)) {
    const line = new RegExp(`\\(default ${value}[):][^\\n]*\\n\\s*${name}\\?:`);
    assert.match(block, line, `${name} (default ${value})`);
  }
});
