// RFC 3394 AES key wrap with a 256-bit KEK (sections 4.3, 4.5, 4.6) through the core's own
// functions in the optimized .wasm: opt-level 3 miscompiles the unwrap on wasm32 (see
// ../shared/guide/toolchains.md), so the package must prove its build unwraps correctly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DidCommError } from 'didcomm-edge';
// The raw wasm-bindgen module, already initialized by the package entry above.
import { __a256kwWrap, __a256kwUnwrap } from '../dist/didcomm_edge.js';
import { hex } from './helpers.mjs';

const KEK = hex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');
const CASES = [
  ['4.3: 128 bits of key data', '00112233445566778899AABBCCDDEEFF',
    '64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7'],
  ['4.5: 192 bits of key data', '00112233445566778899AABBCCDDEEFF0001020304050607',
    'A8F9BC1612C68B3FF6E6F4FBE30E71E4769C8B80A32CB8958CD5D17D6B254DA1'],
  ['4.6: 256 bits of key data', '00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F',
    '28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21'],
];

for (const [name, data, wrapped] of CASES) {
  test(`RFC 3394 ${name}: unwrap and wrap`, () => {
    assert.deepEqual(__a256kwUnwrap(KEK, hex(wrapped)), hex(data));
    assert.deepEqual(__a256kwWrap(KEK, hex(data)), hex(wrapped));
  });
}

test('RFC 3394 4.6: a flipped bit fails the integrity check with decryption_failed', () => {
  const tampered = hex(CASES[2][2]);
  tampered[3] ^= 1;
  assert.throws(() => __a256kwUnwrap(KEK, tampered), (err) => {
    assert.ok(err instanceof DidCommError);
    assert.equal(err.kind, 'decryption_failed');
    return true;
  });
});

test('a wrong-size KEK is an illegal argument', () => {
  assert.throws(() => __a256kwUnwrap(KEK.subarray(1), hex(CASES[2][2])), { kind: 'illegal_argument' });
});
