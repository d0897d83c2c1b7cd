// `didcomm-edge/sdk`: the core's resolver chain (built-in methods, did:web through a real HTTP
// server on 127.0.0.1 and through a replaced fetch, the cache rules), identities and wallets,
// routing, and the protocol registry. Errors carry the core's kinds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import {
  DidComm, DidCommError, ErrorKind, InMemoryDidResolver, InMemorySecretsResolver, Wallet, createMessage,
  generateIdentity, generateDidKey, protocolMessageTypes, buildProtocolMessage, parseProtocolMessage, replyTo,
  pureAck, trustPingResponse, oobInvitationUrl, oobInvitationFromUrl, oobAttachedMessages, oobReply,
} from 'didcomm-edge/sdk';
import * as engineOnly from 'didcomm-edge';

const kind = (k) => (e) => e instanceof DidCommError && e.kind === k;
const secrets = () => new InMemorySecretsResolver();

// --- did:web over real HTTP on 127.0.0.1 -------------------------------------------------------

let server;
let port;
let hits = 0;
let webDoc;
const bigPath = '/big/did.json';

before(async () => {
  server = createServer((req, res) => {
    hits += 1;
    if (req.url === '/.well-known/did.json') {
      res.writeHead(200, { 'content-type': 'application/did+json' }).end(JSON.stringify(webDoc));
    } else if (req.url === bigPath) {
      // Larger than the core's 256 KiB limit; streamed so the client can stop reading early.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"id":"x","pad":"${'a'.repeat(600 * 1024)}"}`);
    } else if (req.url === '/moved/did.json') {
      res.writeHead(302, { location: `http://127.0.0.1:${port}/.well-known/did.json` }).end();
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = server.address().port;
  const did = `did:web:127.0.0.1%3A${port}`;
  const key = generateDidKey('X25519');
  const vm = key.document.verificationMethod[0];
  webDoc = {
    id: did,
    verificationMethod: [{ ...vm, id: `${did}#ka`, controller: did }],
    keyAgreement: [`${did}#ka`],
  };
});

after(() => server?.close());

test('built-in methods resolve without a resolver: did:key, did:peer:2, did:peer:4 (long and short), did:jwk', async () => {
  const dc = new DidComm(null, secrets());
  const key = generateDidKey('Ed25519');
  assert.equal((await dc.resolve(key.did)).id, key.did);
  const peer2 = generateIdentity('peer2', { uri: 'https://example.org/didcomm' });
  assert.deepEqual(await dc.resolve(peer2.did), peer2.document);
  const peer4 = generateIdentity('peer4');
  assert.equal((await dc.resolve(peer4.did)).id, peer4.did);
  // The short form resolves once the long form has been seen (the chain remembers it).
  const short = new Wallet().addIdentity(peer4).toJSON().did_docs[1].id;
  assert.equal((await dc.resolve(short)).id, short);
  const jwk = `did:jwk:${Buffer.from(JSON.stringify(generateDidKey('P-256').secrets[0].privateKeyJwk, ['crv', 'kty', 'x', 'y'])).toString('base64url')}`;
  assert.equal((await dc.resolve(jwk)).id, jwk);
  // The engine-only entry has no built-in methods: the same DID needs the host resolver there.
  const plain = new engineOnly.DidComm(new engineOnly.InMemoryDidResolver(), new engineOnly.InMemorySecretsResolver());
  await assert.rejects(plain.resolve(key.did), (e) => e.kind === 'did_not_resolved');
});

test('other methods go to the user resolver; unknown DIDs are did_not_resolved; malformed peers malformed', async () => {
  const asked = [];
  const user = { resolve: async (did) => { asked.push(did); return did === 'did:example:x' ? { id: did } : null; } };
  const dc = new DidComm(user, secrets());
  assert.equal((await dc.resolve('did:example:x')).id, 'did:example:x');
  await assert.rejects(dc.resolve('did:example:y'), kind(ErrorKind.DidNotResolved));
  await dc.resolve(generateDidKey('Ed25519').did);
  assert.deepEqual(asked, ['did:example:x', 'did:example:y'], 'built-in methods never reach the user resolver');
  await assert.rejects(dc.resolve('did:peer:2.Ez6L!!!'), kind(ErrorKind.Malformed));
  await assert.rejects(dc.resolve('did:peer:7x'), kind(ErrorKind.Unsupported));
  const failing = new DidComm({ resolve() { throw new Error('down'); } }, secrets());
  await assert.rejects(failing.resolve('did:example:x'), kind(ErrorKind.ResolverFailure));
});

test('pinned documents win over derived ones', async () => {
  const id = generateIdentity('peer2');
  const pinnedDoc = { ...id.document, alsoKnownAs: ['did:example:pinned'] };
  const dc = new DidComm(null, secrets(), { pinned: new InMemoryDidResolver([pinnedDoc]) });
  assert.deepEqual((await dc.resolve(id.did)).alsoKnownAs, ['did:example:pinned']);
});

test('did:web through globalThis.fetch on 127.0.0.1, cached for didWebTtlSeconds', async () => {
  const dc = new DidComm(null, secrets(), { allowLoopbackHttp: true, didWebTtlSeconds: 60 });
  const before = hits;
  assert.deepEqual(await dc.resolve(webDoc.id), webDoc);
  assert.deepEqual(await dc.resolve(webDoc.id), webDoc);
  assert.equal(hits - before, 1, 'the second resolve came from the cache');
  dc.invalidateDid(webDoc.id);
  await dc.resolve(webDoc.id);
  assert.equal(hits - before, 2);
  // A TTL of 0 caches nothing.
  const uncached = new DidComm(null, secrets(), { allowLoopbackHttp: true, didWebTtlSeconds: 0 });
  await uncached.resolve(webDoc.id);
  await uncached.resolve(webDoc.id);
  assert.equal(hits - before, 4);
});

test('did:web: loopback refused by default, 404 is not resolved, too large refused, redirects refused', async () => {
  const strict = new DidComm(null, secrets());
  await assert.rejects(strict.resolve(webDoc.id), (e) => e instanceof DidCommError && e.kind !== 'did_not_resolved');
  const dc = new DidComm(null, secrets(), { allowLoopbackHttp: true });
  await assert.rejects(dc.resolve(`did:web:127.0.0.1%3A${port}:missing`), kind(ErrorKind.DidNotResolved));
  await assert.rejects(dc.resolve(`did:web:127.0.0.1%3A${port}:big`), kind(ErrorKind.TooLarge));
  await assert.rejects(dc.resolve(`did:web:127.0.0.1%3A${port}:moved`), kind(ErrorKind.ResolverFailure));
});

test('did:web through a fetch the host gives; fetch: null leaves did:web to the user resolver', async () => {
  const urls = [];
  const fetch = async (url, init) => {
    urls.push([url, init.headers.accept, init.redirect]);
    return new Response(JSON.stringify({ id: 'did:web:example.org' }), { status: 200 });
  };
  const dc = new DidComm(null, secrets(), { fetch });
  assert.equal((await dc.resolve('did:web:example.org')).id, 'did:web:example.org');
  assert.deepEqual(urls, [['https://example.org/.well-known/did.json', 'application/did+json, application/json', 'error']]);
  const thrower = new DidComm(null, secrets(), { fetch: async () => { throw new TypeError('offline'); } });
  await assert.rejects(thrower.resolve('did:web:example.org'), kind(ErrorKind.ResolverFailure));
  const user = { resolve: async (did) => ({ id: did }) };
  const off = new DidComm(user, secrets(), { fetch: null });
  assert.equal((await off.resolve('did:web:example.org')).id, 'did:web:example.org');
  assert.throws(() => new DidComm(null, secrets(), { fetch: 'no' }), kind(ErrorKind.IllegalArgument));
  assert.throws(() => new DidComm(null, secrets(), { fetchh: null }), kind(ErrorKind.IllegalArgument));
});

// --- identities and wallets ---------------------------------------------------------------------

test('generateIdentity: peer2, peer4, key; services with routing keys; errors typed', () => {
  const service = { uri: 'https://m.example.org/didcomm', routingKeys: ['did:example:mediator#key-1'] };
  for (const method of ['peer2', 'peer4']) {
    const id = generateIdentity(method, [service, { uri: 'wss://m.example.org/ws' }]);
    assert.match(id.did, method === 'peer2' ? /^did:peer:2\./ : /^did:peer:4/);
    assert.equal(id.document.id, id.did);
    assert.deepEqual(id.secrets.map((s) => s.kid), [`${id.did}#key-1`, `${id.did}#key-2`]);
    const services = id.document.service;
    assert.equal(services.length, 2);
    assert.deepEqual(services[0].serviceEndpoint.routingKeys, ['did:example:mediator#key-1']);
  }
  const key = generateIdentity('key');
  assert.match(key.did, /^did:key:z6Mk/);
  assert.equal(key.secrets.length, 2, 'Ed25519 and its derived X25519');
  for (const crv of ['X25519', 'P-256', 'P-384', 'P-521', 'secp256k1']) {
    assert.equal(generateDidKey(crv).secrets[0].privateKeyJwk.crv, crv);
  }
  assert.throws(() => generateIdentity('key', service), kind(ErrorKind.IllegalArgument));
  assert.throws(() => generateIdentity('peer9'), kind(ErrorKind.IllegalArgument));
  assert.throws(() => generateIdentity('peer2', { uri: 'x', routingKeys: ['not a did'] }), kind(ErrorKind.IllegalArgument));
  assert.throws(() => generateIdentity('peer2', { url: 'x' }), kind(ErrorKind.IllegalArgument));
  assert.throws(() => generateDidKey('P-999'), kind(ErrorKind.IllegalArgument));
});

test('wallets: addIdentity (did:peer:4 brings its short form), toJSON, import back, authcrypt between identities', async () => {
  const alice = generateIdentity('peer4');
  const bob = generateIdentity('peer2');
  const wallet = new Wallet().addIdentity(alice).addDocument(bob.document);
  const file = wallet.toJSON();
  assert.equal(file.did_docs.length, 3);
  assert.equal(file.secrets.length, 4);
  const again = Wallet.fromJSON(JSON.stringify(file));
  assert.deepEqual(again.toJSON(), file);
  const aliceDc = again.didComm();
  const bobDc = new Wallet().addIdentity(bob).didComm();
  const msg = createMessage('https://didcomm.org/basicmessage/2.0/message', { content: 'hi' }, { from: alice.did, to: [bob.did] });
  // Bob knows nothing of Alice: her did:peer:4 resolves from the DID itself.
  const { packed } = await aliceDc.packEncrypted(msg, bob.did, { from: alice.did });
  const { message, metadata } = await bobDc.unpack(packed);
  assert.equal(message.body.content, 'hi');
  assert.equal(metadata.authenticated, true);
  assert.throws(() => new Wallet().addIdentity({ did: 'did:example:a', document: { id: 'did:example:b' }, secrets: [] }), kind(ErrorKind.IllegalArgument));
  assert.throws(() => new Wallet().addIdentity({ did: 1 }), kind(ErrorKind.IllegalArgument));
});

// --- routing ------------------------------------------------------------------------------------

test('route, unwrapForward, wrapInForward, resolveRoute: the core rules, two mediators', async () => {
  const outer = generateIdentity('peer2', { uri: 'https://outer.example.org/didcomm' });
  const inner = generateIdentity('peer2');
  const bob = generateIdentity('peer2', {
    uri: 'https://never.example.org',
    routingKeys: [`${inner.did}#key-2`, `${outer.did}#key-2`],
  });
  const alice = generateIdentity('peer2');
  const aliceDc = new Wallet().addIdentity(alice).didComm();
  const msg = createMessage('https://didcomm.org/basicmessage/2.0/message', { content: 'routed' }, { from: alice.did, to: [bob.did] });
  const { packed } = await aliceDc.packEncrypted(msg, bob.did, { from: alice.did });

  const route = await aliceDc.resolveRoute(bob.did);
  assert.deepEqual(route, {
    uri: 'https://never.example.org', serviceId: `${bob.did}#service`, accept: ['didcomm/v2'],
    hops: [`${inner.did}#key-2`, `${outer.did}#key-2`],
  });
  const routed = await aliceDc.route(packed, bob.did, { encAlgAnon: 'A256GCM', expiresTime: 2_000_000_000 });
  assert.deepEqual({ ...routed, message: undefined }, { ...route, message: undefined });

  // The first hop opens the outer layer and finds the second hop as `next`.
  const innerDc = new Wallet().addIdentity(inner).didComm();
  const first = await innerDc.unwrapForward(routed.message);
  assert.equal(first.forward.next, `${outer.did}#key-2`);
  assert.equal(first.forward.expiresTime, 2_000_000_000);
  assert.equal(first.metadata.encAlgAnon, 'ECDH-ES+A256KW/A256GCM');
  const outerDc = new Wallet().addIdentity(outer).didComm();
  const second = await outerDc.unwrapForward(first.forward.messages[0]);
  assert.equal(second.forward.next, bob.did);
  const { message } = await new Wallet().addIdentity(bob).didComm().unpack(second.forward.messages[0]);
  assert.equal(message.body.content, 'routed');

  // wrapInForward by hand, and with no hops the message unchanged.
  const wrapped = await aliceDc.wrapInForward(packed, bob.did, [inner.did], { forwardHeaders: { 'x-hop': 1 } });
  assert.equal((await innerDc.unwrapForward(wrapped)).forward.next, bob.did);
  assert.equal(await aliceDc.wrapInForward(packed, bob.did, []), packed);

  // Errors, typed as in Rust.
  await assert.rejects(aliceDc.route(aliceDc.packPlaintext(msg), bob.did), kind(ErrorKind.IllegalArgument));
  await assert.rejects(aliceDc.resolveRoute(alice.did), kind(ErrorKind.DidUrlNotFound));
  await assert.rejects(aliceDc.wrapInForward(packed, 'bob', [inner.did]), kind(ErrorKind.IllegalArgument));
  await assert.rejects(aliceDc.route(packed, bob.did, { encAlgAnon: 'ROT13' }), kind(ErrorKind.IllegalArgument));
  await assert.rejects(aliceDc.route(packed, bob.did, { serviceID: 'x' }), kind(ErrorKind.IllegalArgument));
  // A forward must be encrypted to the mediator.
  const plainForward = buildProtocolMessage('https://didcomm.org/routing/2.0/forward', { next: bob.did, messages: [packed] });
  await assert.rejects(innerDc.unwrapForward(innerDc.packPlaintext(plainForward)), kind(ErrorKind.Malformed));
});

// --- protocols ----------------------------------------------------------------------------------

const P = {
  mediation2: 'https://didcomm.org/coordinate-mediation/2.0',
  mediation3: 'https://didcomm.org/coordinate-mediation/3.0',
  pickup3: 'https://didcomm.org/messagepickup/3.0',
  pickup4: 'https://didcomm.org/message-pickup/4.0',
};

test('protocolMessageTypes lists every protocol of the issue', () => {
  const types = protocolMessageTypes();
  assert.equal(new Set(types).size, types.length);
  for (const t of [
    `${P.mediation2}/mediate-request`, `${P.mediation2}/keylist-update`, `${P.mediation3}/recipient-update`,
    `${P.pickup3}/status-request`, `${P.pickup3}/delivery`, `${P.pickup4}/messages-received`,
    'https://didcomm.org/trust-ping/2.0/ping', 'https://didcomm.org/basicmessage/2.0/message',
    'https://didcomm.org/report-problem/2.0/problem-report', 'https://didcomm.org/discover-features/2.0/queries',
    'https://didcomm.org/out-of-band/2.0/invitation', 'https://didcomm.org/routing/2.0/forward',
  ]) assert.ok(types.includes(t), t);
});

test('buildProtocolMessage / parseProtocolMessage round-trip the typed form; headers are set', () => {
  const samples = [
    [`${P.mediation2}/mediate-request`, {}],
    [`${P.mediation3}/mediate-grant`, { routing_did: ['did:example:mediator'] }],
    [`${P.mediation2}/keylist-update`, { updates: [{ recipient_did: 'did:example:a', action: 'add' }] }],
    [`${P.pickup3}/delivery-request`, { limit: 7 }],
    [`${P.pickup4}/messages-received`, { message_id_list: ['1', '2'] }],
    ['https://didcomm.org/trust-ping/2.0/ping', { response_requested: false }],
    ['https://didcomm.org/basicmessage/2.0/message', { content: 'hi', lang: 'en' }],
    ['https://didcomm.org/report-problem/2.0/problem-report', { code: 'e.p.xfer.cant-use-endpoint', pthid: 't1' }],
    ['https://didcomm.org/out-of-band/2.0/invitation', { from: 'did:example:alice', goal_code: 'connect' }],
  ];
  for (const [type, fields] of samples) {
    const built = buildProtocolMessage(type, fields, { from: 'did:example:alice', to: ['did:example:bob'], 'x-custom': true });
    assert.equal(built.type, type);
    assert.equal(built.from, 'did:example:alice');
    assert.equal(built['x-custom'], true);
    const parsed = parseProtocolMessage(built);
    assert.equal(parsed.messageType, type);
    assert.equal(parsed.protocol, type.slice(0, type.lastIndexOf('/')));
    for (const [name, value] of Object.entries(fields)) assert.deepEqual(parsed.fields[name], value, `${type} ${name}`);
    assert.equal('version' in parsed.fields, false);
  }
  assert.equal(buildProtocolMessage(`${P.pickup3}/status-request`).return_route, 'all');
  assert.throws(() => buildProtocolMessage('https://example.org/x/1.0/y', {}), kind(ErrorKind.Unsupported));
  assert.throws(() => buildProtocolMessage(`${P.pickup3}/delivery-request`, { limit: 'ten' }), kind(ErrorKind.Malformed));
  assert.throws(() => buildProtocolMessage('https://didcomm.org/out-of-band/2.0/invitation', {}), kind(ErrorKind.IllegalArgument));
  assert.throws(() => buildProtocolMessage(`${P.pickup3}/status-request`, {}, { from: 5 }), kind(ErrorKind.Malformed));
  assert.throws(() => parseProtocolMessage(createMessage('https://example.org/x/1.0/y')), kind(ErrorKind.Unsupported));
  assert.throws(() => parseProtocolMessage(createMessage(`${P.pickup3}/delivery-request`, { limit: 'x' })), kind(ErrorKind.Malformed));
});

test('replyTo, pureAck, trustPingResponse', () => {
  const ping = buildProtocolMessage('https://didcomm.org/trust-ping/2.0/ping', { response_requested: true },
    { from: 'did:example:alice', to: ['did:example:bob'], please_ack: ['m1'] });
  const response = trustPingResponse(ping, { from: 'did:example:bob' });
  assert.equal(response.thid, ping.id);
  assert.deepEqual(response.to, ['did:example:alice']);
  assert.equal(trustPingResponse({ ...ping, body: { response_requested: false } }), undefined);
  const reply = replyTo(ping, createMessage('https://didcomm.org/basicmessage/2.0/message', { content: 'yo' }));
  assert.equal(reply.thid, ping.id);
  assert.deepEqual(reply.ack, ['m1'], 'what the request asked to have acknowledged');
  assert.deepEqual(pureAck(['a', 'b']).ack, ['a', 'b']);
  assert.equal(pureAck([]), undefined);
  assert.throws(() => pureAck('a'), kind(ErrorKind.IllegalArgument));
});

test('Out-of-Band: create, URL round trip, attachments, reply', () => {
  const request = buildProtocolMessage(`${P.mediation2}/mediate-request`, {});
  const invitation = buildProtocolMessage('https://didcomm.org/out-of-band/2.0/invitation', { from: 'did:example:mediator' });
  const url = oobInvitationUrl(invitation, 'https://example.org/invite');
  assert.match(url, /^https:\/\/example\.org\/invite\?_oob=/);
  assert.deepEqual(oobInvitationFromUrl(url), invitation);
  assert.deepEqual(oobAttachedMessages(invitation), []);
  const reply = oobReply(invitation, request);
  assert.equal(reply.pthid, invitation.id);
  assert.deepEqual(reply.to, ['did:example:mediator']);
  assert.throws(() => oobInvitationFromUrl('https://example.org/?_oobid=abc'), kind(ErrorKind.Unsupported));
  assert.throws(() => oobInvitationFromUrl('https://example.org/?_oob=!!'), kind(ErrorKind.Malformed));
});
