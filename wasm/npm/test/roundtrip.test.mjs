// Round trips through the package on every curve, mode and option, and the error contract:
// typed DidCommError rejections with the core's kinds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DidComm, DidCommError, ErrorKind, InMemoryDidResolver, InMemorySecretsResolver, Wallet, createMessage,
  receivedEnding,
} from 'didcomm-edge';
import { KA_CURVES, SIGN_CURVES, SIGN_ALG, makeParty, walletOf } from './parties.mjs';

const carol = makeParty('carol');
const dave = makeParty('dave');
const carolDc = new Wallet(walletOf(carol, dave)).didComm();
const daveDc = new Wallet(walletOf(dave, carol)).didComm();
const ENCS = ['A256CBC-HS512', 'A256GCM', 'XC20P'];

const message = (extra = {}) =>
  createMessage('https://didcomm.org/basicmessage/2.0/message', { content: 'héllo ✓', n: 42, f: 0.5, nested: { a: [1, null, true] } }, {
    from: carol.did, to: [dave.did], ...extra,
  });

const rejectsWith = (promise, kind) =>
  assert.rejects(promise, (err) => {
    assert.ok(err instanceof DidCommError, `not a DidCommError: ${err}`);
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'DidCommError');
    assert.equal(err.kind, kind, err.message);
    assert.equal(err.message, `${err.kind}: ${err.reason}`);
    return true;
  });

for (const crv of KA_CURVES) {
  for (const enc of ENCS) {
    test(`anoncrypt ${crv} ${enc}`, async () => {
      const msg = message();
      const { packed, metadata } = await carolDc.packEncrypted(msg, dave.kaKids[crv], { encAlgAnon: enc });
      assert.deepEqual(metadata, { toKids: [dave.kaKids[crv]] });
      const header = JSON.parse(Buffer.from(JSON.parse(packed).protected, 'base64url'));
      assert.equal(header.alg, 'ECDH-ES+A256KW');
      assert.equal(header.enc, enc);
      const out = await daveDc.unpack(packed);
      assert.deepEqual(out.message, msg);
      assert.equal(out.metadata.encAlgAnon, `ECDH-ES+A256KW/${enc}`);
      assert.equal(out.metadata.anonymousSender, true);
      assert.equal(out.metadata.authenticated, false);
    });
  }

  test(`authcrypt ${crv}`, async () => {
    const msg = message();
    const { packed, metadata } = await carolDc.packEncrypted(msg, dave.did, { from: carol.kaKids[crv] });
    assert.equal(metadata.fromKid, carol.kaKids[crv]);
    assert.deepEqual(metadata.toKids, [dave.kaKids[crv]]);
    const out = await daveDc.unpack(packed);
    assert.deepEqual(out.message, msg);
    assert.equal(out.metadata.encryptedFromKid, carol.kaKids[crv]);
    assert.equal(out.metadata.encAlgAuth, 'ECDH-1PU+A256KW/A256CBC-HS512');
    assert.equal(out.metadata.authenticated, true);
    assert.equal(out.metadata.anonymousSender, false);
  });

  test(`authcrypt ${crv} with protectSender, signed first`, async () => {
    const msg = message();
    const { packed, metadata } = await carolDc.packEncrypted(msg, dave.did, {
      from: carol.kaKids[crv], signBy: carol.signKids.Ed25519, protectSender: true, encAlgAnon: 'XC20P',
    });
    assert.equal(metadata.signByKid, carol.signKids.Ed25519);
    // The outer layer hides the sender's key id.
    assert.ok(!packed.includes(Buffer.from(carol.kaKids[crv]).toString('base64url')));
    const out = await daveDc.unpack(packed);
    assert.deepEqual(out.message, msg);
    assert.equal(out.metadata.anonymousSender, true);
    assert.equal(out.metadata.authenticated, true);
    assert.equal(out.metadata.nonRepudiation, true);
    assert.equal(out.metadata.encryptedFromKid, carol.kaKids[crv]);
    assert.equal(out.metadata.signFrom, carol.signKids.Ed25519);
    assert.equal(out.metadata.encAlgAnon, 'ECDH-ES+A256KW/XC20P');
    assert.equal(typeof out.metadata.signedMessage, 'string');
  });
}

for (const crv of SIGN_CURVES) {
  test(`signed ${SIGN_ALG[crv]}`, async () => {
    const msg = message();
    const { packed, metadata } = await carolDc.packSigned(msg, carol.signKids[crv]);
    assert.deepEqual(metadata, { signByKid: carol.signKids[crv], signAlg: SIGN_ALG[crv] });
    const out = await daveDc.unpack(packed);
    assert.deepEqual(out.message, msg);
    assert.equal(out.metadata.signAlg, SIGN_ALG[crv]);
    assert.equal(out.metadata.nonRepudiation, true);
    assert.deepEqual(JSON.parse(out.metadata.signedMessage), JSON.parse(packed));
  });
}

test('signed by a DID picks its first authentication key', async () => {
  const { metadata } = await carolDc.packSigned(message(), carol.did);
  assert.equal(metadata.signByKid, carol.signKids.Ed25519);
});

test('plaintext', async () => {
  const msg = message({ thid: 'thread-1', please_ack: ['x'], 'ext-header': { any: 'json' } });
  const packed = carolDc.packPlaintext(msg);
  assert.equal(typeof packed, 'string');
  const out = await daveDc.unpack(packed);
  assert.deepEqual(out.message, msg);
  assert.equal(out.metadata.encrypted, false);
  assert.equal(out.metadata.authenticated, false);
});

test('toKids restricts the recipients', async () => {
  const { metadata } = await carolDc.packEncrypted(message(), dave.did, { toKids: [dave.kaKids['P-521']] });
  assert.deepEqual(metadata.toKids, [dave.kaKids['P-521']]);
});

test('many messages in flight at once', async () => {
  const msgs = Array.from({ length: 20 }, () => message());
  const packed = await Promise.all(msgs.map((m, i) =>
    carolDc.packEncrypted(m, dave.did, i % 2 ? { from: carol.did } : {})));
  const out = await Promise.all(packed.map((p) => daveDc.unpack(p.packed)));
  assert.deepEqual(out.map((o) => o.message), msgs);
});

test('from_prior: DID rotation signed by the prior DID', async () => {
  const prior = makeParty('carol-old', { ka: [], sign: ['Ed25519'] });
  const carolNew = new Wallet({ did_docs: [carol.doc, dave.doc, prior.doc], secrets: [...carol.secrets, ...prior.secrets] }).didComm();
  const daveSees = new Wallet({ did_docs: [dave.doc, carol.doc, prior.doc], secrets: dave.secrets }).didComm();
  const { jwt, issuerKid } = await carolNew.packFromPrior({ iss: prior.did, sub: carol.did, iat: 1700000000 });
  assert.equal(issuerKid, prior.signKids.Ed25519);
  const msg = message({ from_prior: jwt });
  const { packed } = await carolNew.packEncrypted(msg, dave.did, { from: carol.did });
  const out = await daveSees.unpack(packed);
  assert.deepEqual(out.metadata.fromPrior, { iss: prior.did, sub: carol.did, iat: 1700000000 });
  assert.equal(out.metadata.fromPriorIssuerKid, prior.signKids.Ed25519);
});

test('from_prior without sub: ending a relationship, anoncrypt, no from', async () => {
  const { jwt, issuerKid } = await carolDc.endRelationship(carol.did);
  assert.equal(issuerKid, carol.signKids.Ed25519);
  const { from, ...msg } = message({ from_prior: jwt });
  assert.equal(from, carol.did);
  const out = await daveDc.unpack((await carolDc.packEncrypted(msg, dave.did)).packed);
  assert.ok(out.metadata.anonymousSender && !out.metadata.authenticated);
  assert.equal(out.metadata.fromPrior.iss, carol.did);
  assert.ok(!('sub' in out.metadata.fromPrior));
  assert.equal(receivedEnding(out.message, out.metadata), carol.did);
  // Claims without `sub` through packFromPrior, received as plaintext.
  const claims = await carolDc.packFromPrior({ iss: carol.did, iat: 1700000000 });
  const plain = await daveDc.unpack(carolDc.packPlaintext({ ...msg, from_prior: claims.jwt }));
  assert.deepEqual(plain.metadata.fromPrior, { iss: carol.did, iat: 1700000000 });
  assert.equal(receivedEnding(plain.message, plain.metadata), carol.did);
  const regular = await daveDc.unpack(carolDc.packPlaintext(message()));
  assert.equal(receivedEnding(regular.message, regular.metadata), undefined);
  // `sub: null` is refused, and an ending that keeps its `from` is refused both ways.
  await rejectsWith(carolDc.packFromPrior({ iss: carol.did, sub: null }), ErrorKind.IllegalArgument);
  await rejectsWith(carolDc.packEncrypted({ ...msg, from }, dave.did, { from }), ErrorKind.IllegalArgument);
  await rejectsWith(daveDc.unpack({ ...msg, from }), ErrorKind.SenderMismatch);
});

test('resolve goes through the host resolver and returns the document', async () => {
  const doc = await carolDc.resolve(dave.did);
  assert.equal(doc.id, dave.did);
  assert.deepEqual(doc.keyAgreement, dave.doc.keyAgreement);
  await rejectsWith(carolDc.resolve('did:example:nobody'), ErrorKind.DidNotResolved);
});

// --- errors ------------------------------------------------------------------------------------

test('tampered ciphertext fails with decryption_failed', async () => {
  const { packed } = await carolDc.packEncrypted(message(), dave.did, { from: carol.did });
  const jwe = JSON.parse(packed);
  const ct = Buffer.from(jwe.ciphertext, 'base64url');
  ct[0] ^= 1;
  jwe.ciphertext = ct.toString('base64url');
  await rejectsWith(daveDc.unpack(JSON.stringify(jwe)), ErrorKind.DecryptionFailed);
});

test('malformed input, unknown DIDs and missing secrets have their kinds', async () => {
  await rejectsWith(daveDc.unpack('not json'), ErrorKind.Malformed);
  await rejectsWith(daveDc.unpack('[1,2]'), ErrorKind.Malformed);
  await rejectsWith(carolDc.packEncrypted(message({ to: ['did:example:zed'] }), 'did:example:zed'), ErrorKind.DidNotResolved);
  // Carol cannot read what was encrypted to Dave.
  const { packed } = await daveDc.packEncrypted(message({ from: dave.did }), dave.did);
  await rejectsWith(carolDc.unpack(packed), ErrorKind.SecretNotFound);
  await rejectsWith(daveDc.packSigned(message(), dave.did), ErrorKind.IllegalArgument);
  await rejectsWith(daveDc.packSigned(message({ from: undefined }), carol.did), ErrorKind.SecretNotFound);
});

test('argument errors reject (never throw) from async methods', async () => {
  const p = carolDc.packEncrypted(message(), 42);
  assert.ok(p instanceof Promise);
  await rejectsWith(p, ErrorKind.IllegalArgument);
  await rejectsWith(carolDc.packEncrypted(message(), dave.did, { protect_sender: true }), ErrorKind.IllegalArgument);
  await rejectsWith(carolDc.packEncrypted(message(), dave.did, { encAlgAnon: 'A128GCM' }), ErrorKind.IllegalArgument);
  await rejectsWith(carolDc.packEncrypted('not an object', dave.did), ErrorKind.IllegalArgument);
  await rejectsWith(carolDc.packEncrypted({ id: 'x' }, dave.did), ErrorKind.Malformed);
  await rejectsWith(carolDc.unpack('{}', { reject_expired: true }), ErrorKind.IllegalArgument);
  await rejectsWith(carolDc.packEncrypted(message(), dave.did, { from: dave.did }), ErrorKind.IllegalArgument);
  await rejectsWith(carolDc.packEncrypted({ ...message(), body: { big: 1n } }, dave.did), ErrorKind.IllegalArgument);
});

test('sync methods throw DidCommError', () => {
  assert.throws(() => carolDc.packPlaintext({ id: '', type: 't' }), { name: 'DidCommError', kind: 'malformed' });
  assert.throws(() => new DidComm({}, new InMemorySecretsResolver()), { kind: 'illegal_argument' });
  assert.throws(() => new DidComm(new InMemoryDidResolver(), {}), { kind: 'illegal_argument' });
  assert.throws(() => new DidComm(new InMemoryDidResolver(), new InMemorySecretsResolver(), { maxSize: 1 }), { kind: 'illegal_argument' });
  assert.throws(() => createMessage('t', { a: 1 }, { from: 'not a did' }), { kind: 'malformed' });
  assert.throws(() => new Wallet('{"did_docs": 5}'), { kind: 'malformed' });
  assert.throws(() => new Wallet({ secrets: [{ kid: 'did:example:x#1', privateKeyJwk: { kty: 'OKP', crv: 'X25519', d: 'AA' } }] }), { kind: 'malformed' });
});

test('config: maxMessageSize refuses large input with too_large', async () => {
  const small = new DidComm(new InMemoryDidResolver(), new InMemorySecretsResolver(), { maxMessageSize: 100, didCacheTtlSeconds: Infinity });
  await rejectsWith(small.unpack(JSON.stringify({ id: '1', type: 't', body: { pad: 'x'.repeat(200) } })), ErrorKind.TooLarge);
});

test('expired messages are reported, or refused on request', async () => {
  const msg = message({ expires_time: 1000 });
  const { packed } = await carolDc.packEncrypted(msg, dave.did);
  assert.equal((await daveDc.unpack(packed)).metadata.expired, true);
  await rejectsWith(daveDc.unpack(packed, { rejectExpired: true }), ErrorKind.Expired);
  assert.equal((await daveDc.unpack(packed, { now: 999 })).metadata.expired, false);
});

// --- host objects -------------------------------------------------------------------------------

test('host objects: plain objects with sync, async or snake_case methods', async () => {
  const docs = new Map([[carol.did, carol.doc], [dave.did, dave.doc]]);
  const secrets = new Map(dave.secrets.map((s) => [s.kid, s]));
  const calls = [];
  const resolver = { resolve: (did) => { calls.push(did); return docs.get(did) ?? null; } };
  const store = {
    get_secret: async (kid) => secrets.get(kid),
    find_secrets: async (kids) => kids.filter((k) => secrets.has(k)),
  };
  const dc = new DidComm(resolver, store);
  const { packed } = await carolDc.packEncrypted(message(), dave.did, { from: carol.did });
  assert.deepEqual((await dc.unpack(packed)).message.body.n, 42);
  await dc.unpack(packed);
  // The engine caches documents: each DID was resolved once.
  assert.deepEqual(calls.sort(), [carol.did]);
});

test('host failures surface as resolver_failure; bad answers as malformed', async () => {
  const { packed } = await carolDc.packEncrypted(message(), dave.did, { from: carol.did });
  const store = new InMemorySecretsResolver(dave.secrets);
  const failing = new DidComm({ resolve: async () => { throw new Error('network down'); } }, store);
  await assert.rejects(failing.unpack(packed), (err) => {
    assert.equal(err.kind, ErrorKind.ResolverFailure);
    assert.match(err.reason, /network down/);
    return true;
  });
  const throwingSync = new DidComm({ resolve() { throw 'plain string'; } }, store);
  await rejectsWith(throwingSync.unpack(packed), ErrorKind.ResolverFailure);
  const garbage = new DidComm({ resolve: async () => ({ not: 'a document' }) }, store);
  await rejectsWith(garbage.unpack(packed), ErrorKind.Malformed);
  const badSecrets = new DidComm(new InMemoryDidResolver([carol.doc, dave.doc]), {
    getSecret: async () => ({ kid: dave.kaKids.X25519 }), findSecrets: async (kids) => kids,
  });
  await assert.rejects(badSecrets.unpack(packed), (err) => {
    assert.equal(err.kind, ErrorKind.Malformed);
    assert.ok(!/privateKey|"d"/.test(err.reason));
    return true;
  });
  const secretsFail = new DidComm(new InMemoryDidResolver([carol.doc, dave.doc]), {
    getSecret: async () => null, findSecrets: () => Promise.reject(new TypeError('keystore locked')),
  });
  await rejectsWith(secretsFail.unpack(packed), ErrorKind.ResolverFailure);
});

test('in-memory stores are live: changes after creating the engine are seen', async () => {
  const resolver = new InMemoryDidResolver([dave.doc]);
  const secrets = new InMemorySecretsResolver();
  const dc = new DidComm(resolver, secrets);
  const { packed } = await carolDc.packEncrypted(message(), dave.did, { from: carol.did });
  await rejectsWith(dc.unpack(packed), ErrorKind.SecretNotFound);
  for (const s of dave.secrets) secrets.add(s);
  await rejectsWith(dc.unpack(packed), ErrorKind.DidNotResolved);
  resolver.add(carol.doc);
  assert.equal((await dc.unpack(packed)).metadata.authenticated, true);
  assert.deepEqual(resolver.dids().sort(), [carol.did, dave.did].sort());
  assert.equal(secrets.kids().length, dave.secrets.length);
});

test('createMessage fills id, typ and created_time', () => {
  const m = createMessage('https://example.org/t', undefined, { thid: 't1' });
  assert.match(m.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(m.typ, 'application/didcomm-plain+json');
  assert.ok(Math.abs(m.created_time - Date.now() / 1000) < 60);
  assert.deepEqual(m.body, {});
  assert.equal(m.thid, 't1');
  assert.notEqual(createMessage('t').id, createMessage('t').id);
});

test('DidCommError can be constructed and matched by JS code', () => {
  const e = new DidCommError(ErrorKind.Expired, 'too late');
  assert.equal(e.message, 'expired: too late');
  assert.ok(Object.isFrozen(ErrorKind));
});

test('free() releases an engine; using it afterwards throws', () => {
  const dc = new Wallet(walletOf(carol)).didComm();
  dc.free();
  assert.throws(() => dc.packPlaintext(message()));
});
