// Interop with the reference library's npm package `didcomm-node` 0.4.1, both ways: what one
// packs, the other unpacks, for every mode and curve didcomm-node supports (it has no P-384 or
// P-521, and no secp256k1 key agreement). Keys come from node:crypto, so neither library made them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import reference from 'didcomm-node';
import { Wallet, createMessage } from 'didcomm-edge';
import { makeParty, walletOf, SIGN_CURVES, SIGN_ALG } from './parties.mjs';

const { Message: RefMessage, FromPrior: RefFromPrior } = reference;

// Curves didcomm-node can encrypt to (checked below: it refuses the others).
const REF_KA_CURVES = ['X25519', 'P-256'];
const ENC_NAMES = {
  'A256CBC-HS512': 'A256cbcHs512EcdhEsA256kw',
  A256GCM: 'A256gcmEcdhEsA256kw',
  XC20P: 'Xc20pEcdhEsA256kw',
};

const alice = makeParty('alice');
const bob = makeParty('bob');
const prior = makeParty('alice-old', { ka: [], sign: ['Ed25519'] });
const everyone = [alice, bob, prior];

/** didcomm-node's resolver and secrets for `self` (it calls the secret's key id `id`). */
function refStores(self) {
  const docs = new Map(everyone.map((p) => [p.did, p.doc]));
  const secrets = new Map(self.secrets.map((s) => [s.kid, { id: s.kid, type: s.type, privateKeyJwk: s.privateKeyJwk }]));
  return [
    { resolve: async (did) => docs.get(did) ?? null },
    {
      get_secret: async (kid) => secrets.get(kid) ?? null,
      find_secrets: async (kids) => kids.filter((k) => secrets.has(k)),
    },
  ];
}

const ours = {
  alice: new Wallet(walletOf(alice, bob, prior)).didComm(),
  bob: new Wallet(walletOf(bob, alice, prior)).didComm(),
};
const theirs = { alice: refStores(alice), bob: refStores(bob) };

const newMessage = (headers = {}) =>
  createMessage('https://didcomm.org/basicmessage/2.0/message', { content: 'interop ✓', n: 7 }, {
    from: alice.did, to: [bob.did], ...headers,
  });

/** didcomm-node packs (as Alice); we unpack (as Bob). */
async function refPack(msg, to, { from = null, signBy = null, ...options } = {}) {
  const [packed] = await new RefMessage(msg).pack_encrypted(to, from, signBy, ...theirs.alice, { forward: false, ...options });
  return packed;
}

/** We unpack what didcomm-node unpacked, and the other way round. */
async function refUnpack(packed) {
  const [message, metadata] = await RefMessage.unpack(packed, ...theirs.bob, {});
  return { message: message.as_value(), metadata };
}

for (const crv of REF_KA_CURVES) {
  for (const [enc, refEnc] of Object.entries(ENC_NAMES)) {
    test(`anoncrypt ${crv} ${enc}: ours -> didcomm-node`, async () => {
      const msg = newMessage();
      const { packed } = await ours.alice.packEncrypted(msg, bob.kaKids[crv], { encAlgAnon: enc });
      const { message, metadata } = await refUnpack(packed);
      assert.deepEqual(message, msg);
      assert.equal(metadata.anonymous_sender, true);
      assert.equal(metadata.enc_alg_anon, refEnc);
      assert.deepEqual(metadata.encrypted_to_kids, [bob.kaKids[crv]]);
    });

    test(`anoncrypt ${crv} ${enc}: didcomm-node -> ours`, async () => {
      const msg = newMessage();
      const packed = await refPack(msg, bob.kaKids[crv], { enc_alg_anon: refEnc });
      const { message, metadata } = await ours.bob.unpack(packed);
      assert.deepEqual(message, msg);
      assert.equal(metadata.anonymousSender, true);
      assert.equal(metadata.encAlgAnon, `ECDH-ES+A256KW/${enc}`);
    });
  }

  for (const protectSender of [false, true]) {
    const mode = protectSender ? 'authcrypt+protectSender' : 'authcrypt';
    test(`${mode} ${crv}: ours -> didcomm-node`, async () => {
      const msg = newMessage();
      const { packed } = await ours.alice.packEncrypted(msg, bob.did, { from: alice.kaKids[crv], protectSender });
      const { message, metadata } = await refUnpack(packed);
      assert.deepEqual(message, msg);
      assert.equal(metadata.authenticated, true);
      assert.equal(metadata.anonymous_sender, protectSender);
      assert.equal(metadata.encrypted_from_kid, alice.kaKids[crv]);
      assert.deepEqual(metadata.encrypted_to_kids, [bob.kaKids[crv]]);
    });

    test(`${mode} ${crv}: didcomm-node -> ours`, async () => {
      const msg = newMessage();
      const packed = await refPack(msg, bob.did, { from: alice.kaKids[crv], protect_sender: protectSender });
      const { message, metadata } = await ours.bob.unpack(packed);
      assert.deepEqual(message, msg);
      assert.equal(metadata.authenticated, true);
      assert.equal(metadata.anonymousSender, protectSender);
      assert.equal(metadata.encryptedFromKid, alice.kaKids[crv]);
    });
  }
}

for (const crv of SIGN_CURVES) {
  const alg = SIGN_ALG[crv];
  test(`signed ${alg}: ours -> didcomm-node`, async () => {
    const msg = newMessage();
    const { packed } = await ours.alice.packSigned(msg, alice.signKids[crv]);
    const { message, metadata } = await refUnpack(packed);
    assert.deepEqual(message, msg);
    assert.equal(metadata.non_repudiation, true);
    assert.equal(metadata.sign_from, alice.signKids[crv]);
    assert.equal(metadata.sign_alg, alg);
  });

  test(`signed ${alg}: didcomm-node -> ours`, async () => {
    const msg = newMessage();
    const [packed] = await new RefMessage(msg).pack_signed(alice.signKids[crv], ...theirs.alice);
    const { message, metadata } = await ours.bob.unpack(packed);
    assert.deepEqual(message, msg);
    assert.equal(metadata.signFrom, alice.signKids[crv]);
    assert.equal(metadata.signAlg, alg);
  });

  test(`signed ${alg} then authcrypt X25519: both ways`, async () => {
    const msg = newMessage();
    const { packed } = await ours.alice.packEncrypted(msg, bob.did, { from: alice.did, signBy: alice.signKids[crv] });
    const theirView = await refUnpack(packed);
    assert.deepEqual(theirView.message, msg);
    assert.equal(theirView.metadata.sign_from, alice.signKids[crv]);
    assert.equal(theirView.metadata.encrypted_from_kid, alice.kaKids.X25519);
    const refPacked = await refPack(msg, bob.did, { from: alice.did, signBy: alice.signKids[crv] });
    const ourView = await ours.bob.unpack(refPacked);
    assert.deepEqual(ourView.message, msg);
    assert.equal(ourView.metadata.signFrom, alice.signKids[crv]);
    assert.equal(ourView.metadata.nonRepudiation, true);
    assert.equal(ourView.metadata.encryptedFromKid, alice.kaKids.X25519);
  });
}

test('signed then anoncrypt P-256: both ways', async () => {
  const msg = newMessage();
  const { packed } = await ours.alice.packEncrypted(msg, bob.kaKids['P-256'], { signBy: alice.did, encAlgAnon: 'A256GCM' });
  const theirView = await refUnpack(packed);
  assert.deepEqual(theirView.message, msg);
  assert.equal(theirView.metadata.sign_from, alice.signKids.Ed25519);
  assert.equal(theirView.metadata.anonymous_sender, true);
  const refPacked = await refPack(msg, bob.kaKids['P-256'], { signBy: alice.did, enc_alg_anon: 'A256gcmEcdhEsA256kw' });
  const ourView = await ours.bob.unpack(refPacked);
  assert.deepEqual(ourView.message, msg);
  assert.equal(ourView.metadata.signFrom, alice.signKids.Ed25519);
  assert.equal(ourView.metadata.anonymousSender, true);
  assert.equal(ourView.metadata.encryptedFromKid, undefined);
});

test('plaintext: both ways', async () => {
  const msg = newMessage({ thid: 'thread-1', 'x-custom': { a: [1, 2] } });
  const packed = ours.alice.packPlaintext(msg);
  assert.deepEqual((await refUnpack(packed)).message, msg);
  const refPacked = await new RefMessage(msg).pack_plaintext(theirs.alice[0]);
  assert.deepEqual((await ours.bob.unpack(refPacked)).message, msg);
});

test('from_prior (DID rotation): both ways', async () => {
  const claims = { iss: prior.did, sub: alice.did, iat: 1700000000 };
  const rotating = new Wallet({ did_docs: everyone.map((p) => p.doc), secrets: [...alice.secrets, ...prior.secrets] }).didComm();
  const { jwt } = await rotating.packFromPrior(claims);
  const msg = newMessage({ from_prior: jwt });
  const { packed } = await rotating.packEncrypted(msg, bob.did, { from: alice.did });
  const theirView = await refUnpack(packed);
  assert.equal(theirView.metadata.from_prior_issuer_kid, prior.signKids.Ed25519);
  assert.deepEqual(theirView.metadata.from_prior, claims);

  const [refStore, refSecrets] = refStores(prior);
  const [refJwt, refKid] = await new RefFromPrior(claims).pack(null, refStore, refSecrets);
  assert.equal(refKid, prior.signKids.Ed25519);
  const ourView = await ours.bob.unpack(ours.alice.packPlaintext(newMessage({ from_prior: refJwt })));
  assert.equal(ourView.metadata.fromPriorIssuerKid, prior.signKids.Ed25519);
  assert.deepEqual(ourView.metadata.fromPrior, claims);
});

test('didcomm-node cannot encrypt on P-384, P-521 or secp256k1; we can', async () => {
  for (const crv of ['P-384', 'P-521', 'secp256k1']) {
    await assert.rejects(refPack(newMessage(), bob.did, { from: alice.kaKids[crv] }), /No compatible crypto|Unsupported/i);
    const { packed } = await ours.alice.packEncrypted(newMessage(), bob.did, { from: alice.kaKids[crv] });
    assert.equal((await ours.bob.unpack(packed)).metadata.encryptedFromKid, alice.kaKids[crv]);
  }
});

// --- didcomm-edge/sdk: forwards and did:peer identities --------------------------------------
// didcomm-node has no did:peer resolver and does not read `Multikey` verification methods (the
// form our did:peer:2 documents take, as the did:peer spec's resolution does): it gets the same
// documents with each key written as JsonWebKey2020 (from the identity's own secrets), the
// service and routing keys unchanged.

/** An identity's document with JsonWebKey2020 keys, for didcomm-node. */
function jwkDocument(identity) {
  const jwks = new Map(identity.secrets.map(({ kid, privateKeyJwk: { d: _d, ...pub } }) => [kid, pub]));
  const absolute = (id) => (id.startsWith('#') ? identity.did + id : id);
  const verificationMethod = identity.document.verificationMethod.map((vm) => ({
    id: absolute(vm.id), type: 'JsonWebKey2020', controller: identity.did, publicKeyJwk: jwks.get(absolute(vm.id)),
  }));
  const refs = (list = []) => list.map((r) => absolute(typeof r === 'string' ? r : r.id));
  return {
    ...identity.document, verificationMethod,
    authentication: refs(identity.document.authentication), keyAgreement: refs(identity.document.keyAgreement),
    assertionMethod: refs(identity.document.assertionMethod),
  };
}

test('sdk: didcomm-node routes to our did:peer:2 identity through a mediator; our mediator unwraps, our recipient unpacks', async () => {
  const sdk = await import('didcomm-edge/sdk');
  const mediator = sdk.generateIdentity('peer2', { uri: 'https://mediator.example.org' });
  const mediatorKey = `${mediator.did}#key-2`;
  const bobPeer = sdk.generateIdentity('peer2', { uri: 'https://mediator.example.org', routingKeys: [mediatorKey] });
  const docs = new Map([[alice.did, alice.doc], [mediator.did, jwkDocument(mediator)], [bobPeer.did, jwkDocument(bobPeer)]]);
  const refResolver = { resolve: async (did) => docs.get(did) ?? null };
  const [, refSecrets] = refStores(alice);
  const msg = createMessage('https://didcomm.org/basicmessage/2.0/message', { content: 'via didcomm-node' }, { from: alice.did, to: [bobPeer.did] });
  // didcomm-node reads the service of our did:peer:2 document and wraps in a forward itself.
  const [packed, meta] = await new RefMessage(msg).pack_encrypted(bobPeer.did, alice.kaKids.X25519, null, refResolver, refSecrets, { forward: true });
  assert.equal(meta.messaging_service.service_endpoint, 'https://mediator.example.org');
  const mediatorDc = new sdk.Wallet().addIdentity(mediator).didComm();
  const { forward, metadata } = await mediatorDc.unwrapForward(packed);
  assert.equal(forward.next, bobPeer.did);
  assert.equal(metadata.anonymousSender, true);
  const bobDc = new sdk.Wallet().addIdentity(bobPeer).addDocument(alice.doc).didComm();
  const { message, metadata: inner } = await bobDc.unpack(forward.messages[0]);
  assert.deepEqual(message, msg);
  assert.equal(inner.encryptedFromKid, alice.kaKids.X25519);
});

test('sdk: our route to a did:peer:2 recipient; didcomm-node as the mediator reads the forward', async () => {
  const sdk = await import('didcomm-edge/sdk');
  // The mediator's keys are node:crypto's (the `bob` party), so didcomm-node holds them.
  const bobPeer = sdk.generateIdentity('peer2', { uri: 'https://mediator.example.org', routingKeys: [bob.kaKids.X25519] });
  const sender = new sdk.Wallet().addIdentity(sdk.generateIdentity('peer2')).addDocument(bob.doc).didComm();
  const msg = createMessage('https://didcomm.org/basicmessage/2.0/message', { content: 'via ours' }, { to: [bobPeer.did] });
  const { packed } = await sender.packEncrypted(msg, bobPeer.did);
  const routed = await sender.route(packed, bobPeer.did);
  assert.deepEqual(routed.hops, [bob.kaKids.X25519]);
  const [unpacked, refMeta] = await RefMessage.unpack(routed.message, ...theirs.bob, { unwrap_re_wrapping_forward: false });
  assert.equal(refMeta.anonymous_sender, true);
  const parsed = unpacked.try_parse_forward();
  assert.equal(parsed.next, bobPeer.did);
  assert.deepEqual(parsed.forwarded_msg, JSON.parse(packed));
  // And didcomm-node's own wrap_in_forward, read by our unwrapForward.
  const refWrapped = await RefMessage.wrap_in_forward(packed, {}, bobPeer.did, [bob.kaKids.X25519], 'A256cbcHs512EcdhEsA256kw', theirs.bob[0]);
  const bobMediator = new sdk.Wallet(walletOf(bob)).didComm();
  const { forward } = await bobMediator.unwrapForward(refWrapped);
  assert.equal(forward.next, bobPeer.did);
  assert.deepEqual(JSON.parse(forward.messages[0]), JSON.parse(packed));
});
