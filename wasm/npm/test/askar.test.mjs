// Messages packed by PyPI `didcomm-messaging` 0.1.1 on Askar (core/tests/data/askar, written by
// its generate.py): its anoncrypt puts a fresh `epk` in each recipient's `header`, its authcrypt
// one `epk` in the protected header. Every vector unpacks through the npm package.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorKind, Wallet } from 'didcomm-edge';

const here = dirname(fileURLToPath(import.meta.url));
const { vectors } = JSON.parse(
  readFileSync(resolve(here, '../../../core/tests/data/askar/vectors.json'), 'utf8'),
);

test('every didcomm-messaging vector unpacks to its plaintext and metadata', async () => {
  assert.equal(vectors.length, 9);
  for (const v of vectors) {
    const dc = new Wallet(v.wallet).didComm();
    for (const options of [{}, { expectDecryptByAllKeys: true }]) {
      const { message, metadata } = await dc.unpack(v.packed, options);
      assert.deepEqual(message, v.expected.message, v.id);
      assert.equal(metadata.encrypted, true, v.id);
      assert.equal(metadata.authenticated, v.expected.authenticated, v.id);
      assert.equal(metadata.anonymousSender, !v.expected.authenticated, v.id);
      assert.equal(metadata.encryptedFromKid ?? null, v.expected.encrypted_from_kid, v.id);
      assert.deepEqual([...metadata.encryptedToKids].sort(), v.expected.encrypted_to_kids, v.id);
    }
  }
});

test('a tampered per-recipient epk is refused with a typed error', async () => {
  const v = vectors.find((x) => x.id === 'anoncrypt-did-key-x25519');
  const packed = JSON.parse(v.packed);
  const epk = packed.recipients[0].header.epk;
  const x = Buffer.from(epk.x, 'base64url');
  x[5] ^= 0x01;
  epk.x = x.toString('base64url');
  await assert.rejects(new Wallet(v.wallet).didComm().unpack(JSON.stringify(packed)), (err) => {
    assert.equal(err.kind, ErrorKind.DecryptionFailed, err.message);
    return true;
  });
});
