// Pack/unpack throughput of this package against the reference library's npm package
// (`didcomm-node` 0.4.1), measured side by side in one process: rounds alternate between the two
// libraries and the medians are compared. Usage: node bench/bench.mjs [--quick] [--json FILE]
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import reference from 'didcomm-node';
import { Wallet, createMessage } from 'didcomm-edge';
import { makeParty, walletOf } from '../test/parties.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : null;
const ROUNDS = quick ? 3 : 7;
const ROUND_MS = quick ? 150 : 400;

const { Message: RefMessage } = reference;
const alice = makeParty('alice', { ka: ['X25519', 'P-256'], sign: ['Ed25519'] });
const bob = makeParty('bob', { ka: ['X25519', 'P-256'], sign: ['Ed25519'] });

const ours = {
  alice: new Wallet(walletOf(alice, bob)).didComm(),
  bob: new Wallet(walletOf(bob, alice)).didComm(),
};
function refStores(self) {
  const docs = new Map([alice, bob].map((p) => [p.did, p.doc]));
  const secrets = new Map(self.secrets.map((s) => [s.kid, { id: s.kid, type: s.type, privateKeyJwk: s.privateKeyJwk }]));
  return [
    { resolve: async (did) => docs.get(did) ?? null },
    { get_secret: async (kid) => secrets.get(kid) ?? null, find_secrets: async (kids) => kids.filter((k) => secrets.has(k)) },
  ];
}
const theirs = { alice: refStores(alice), bob: refStores(bob) };

const message = createMessage('https://didcomm.org/basicmessage/2.0/message',
  { content: 'The quick brown fox jumps over the lazy dog. '.repeat(4) },
  { from: alice.did, to: [bob.did] });

async function refPack(to, from, signBy, options) {
  const m = new RefMessage(message);
  try {
    const [packed] = await m.pack_encrypted(to, from, signBy, ...theirs.alice, { forward: false, ...options });
    return packed;
  } finally {
    m.free();
  }
}
async function refUnpack(packed) {
  const [m] = await RefMessage.unpack(packed, ...theirs.bob, {});
  m.free();
}

// name -> [ours, didcomm-node], each an async function doing one operation.
async function scenarios() {
  const authOptions = { from: alice.kaKids.X25519 };
  const anonOptions = { encAlgAnon: 'A256CBC-HS512' };
  const refAnon = { enc_alg_anon: 'A256cbcHs512EcdhEsA256kw' };
  const samples = {
    auth: [
      (await ours.alice.packEncrypted(message, bob.kaKids.X25519, authOptions)).packed,
      await refPack(bob.kaKids.X25519, alice.kaKids.X25519, null, {}),
    ],
    anon: [
      (await ours.alice.packEncrypted(message, bob.kaKids.X25519, anonOptions)).packed,
      await refPack(bob.kaKids.X25519, null, null, refAnon),
    ],
    authP256: [
      (await ours.alice.packEncrypted(message, bob.kaKids['P-256'], { from: alice.kaKids['P-256'] })).packed,
      await refPack(bob.kaKids['P-256'], alice.kaKids['P-256'], null, {}),
    ],
    signed: [
      (await ours.alice.packSigned(message, alice.signKids.Ed25519)).packed,
      await (async () => {
        const m = new RefMessage(message);
        const [packed] = await m.pack_signed(alice.signKids.Ed25519, ...theirs.alice);
        m.free();
        return packed;
      })(),
    ],
  };
  return {
    'authcrypt X25519 pack': [
      () => ours.alice.packEncrypted(message, bob.kaKids.X25519, authOptions),
      () => refPack(bob.kaKids.X25519, alice.kaKids.X25519, null, {}),
    ],
    'authcrypt X25519 unpack': [() => ours.bob.unpack(samples.auth[0]), () => refUnpack(samples.auth[1])],
    'anoncrypt X25519 pack': [
      () => ours.alice.packEncrypted(message, bob.kaKids.X25519, anonOptions),
      () => refPack(bob.kaKids.X25519, null, null, refAnon),
    ],
    'anoncrypt X25519 unpack': [() => ours.bob.unpack(samples.anon[0]), () => refUnpack(samples.anon[1])],
    'authcrypt P-256 pack': [
      () => ours.alice.packEncrypted(message, bob.kaKids['P-256'], { from: alice.kaKids['P-256'] }),
      () => refPack(bob.kaKids['P-256'], alice.kaKids['P-256'], null, {}),
    ],
    'authcrypt P-256 unpack': [() => ours.bob.unpack(samples.authP256[0]), () => refUnpack(samples.authP256[1])],
    'signed EdDSA pack': [
      () => ours.alice.packSigned(message, alice.signKids.Ed25519),
      async () => {
        const m = new RefMessage(message);
        await m.pack_signed(alice.signKids.Ed25519, ...theirs.alice);
        m.free();
      },
    ],
    'signed EdDSA unpack': [() => ours.bob.unpack(samples.signed[0]), () => refUnpack(samples.signed[1])],
  };
}

/** Operations per second of `op` run back to back for about `ms` milliseconds. */
async function rate(op, ms) {
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 5; i++) await op();
    n += 5;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// Warm up every operation of both libraries first: V8 compiles wasm with a baseline tier and
// optimizes hot functions in the background, which takes a while on a busy machine.
const all = Object.entries(await scenarios());
for (let pass = 0; pass < 2; pass++) {
  for (const [, ops] of all) for (const op of ops) await rate(op, quick ? 60 : 150);
}

const results = [];
for (const [name, [ourOp, refOp]] of all) {
  const ourRates = [];
  const refRates = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate which library goes first so drift on a shared machine hits both alike.
    if (r % 2) {
      refRates.push(await rate(refOp, ROUND_MS));
      ourRates.push(await rate(ourOp, ROUND_MS));
    } else {
      ourRates.push(await rate(ourOp, ROUND_MS));
      refRates.push(await rate(refOp, ROUND_MS));
    }
  }
  const row = { name, ours: median(ourRates), reference: median(refRates) };
  row.ratio = row.ours / row.reference;
  results.push(row);
  console.log(`${name.padEnd(26)} didcomm-edge ${row.ours.toFixed(0).padStart(7)} ops/s   didcomm-node ${row.reference.toFixed(0).padStart(7)} ops/s   x${row.ratio.toFixed(2)}`);
}
console.log(`(Node ${process.version}; medians of ${ROUNDS} alternating rounds of ${ROUND_MS} ms; one message of ${JSON.stringify(message).length} bytes)`);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ node: process.version, rounds: ROUNDS, results }, null, 2));
