// The example gateway on 127.0.0.1: trust pings answered through the return route and through
// the sender's endpoint, the policy for anonymous pings, HTTP-level refusals, and the program
// itself started as a child process.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { Wallet, createMessage } from 'didcomm-edge';
import { createGateway, didcommEndpoint, TRUST_PING, TRUST_PING_RESPONSE } from '../gateway.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const vectors = process.env.DIDCOMM_VECTORS ?? resolve(here, '../../../testdata/vectors');
const readWallet = (name) => JSON.parse(readFileSync(join(vectors, 'ids', name), 'utf8'));
const ALICE = 'did:example:alice';
const BOB = 'did:example:bob';
const ENCRYPTED = 'application/didcomm-encrypted+json';

let gateway;
let gatewayUrl;
let inbox; // Alice's own endpoint, where replies without return route arrive
let inboxUrl;
const delivered = [];
const events = [];
let alice;
let work;

/** Resolves with the next gateway event matching `predicate` (already seen ones count). */
function nextEvent(predicate) {
  const seen = events.find(predicate);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolvePromise) => {
    const timer = setInterval(() => {
      const e = events.find(predicate);
      if (e) {
        clearInterval(timer);
        resolvePromise(e);
      }
    }, 5);
  });
}

before(async () => {
  inbox = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      delivered.push({ contentType: req.headers['content-type'], body });
      res.writeHead(202).end();
    });
  });
  await new Promise((r) => inbox.listen(0, '127.0.0.1', r));
  inboxUrl = `http://127.0.0.1:${inbox.address().port}/didcomm`;

  // The gateway is Bob; it knows Alice's document, which names Alice's endpoint.
  const bobFile = readWallet('spec-bob.json');
  const aliceDoc = bobFile.did_docs.find((d) => d.id === ALICE);
  aliceDoc.service = [{ id: `${ALICE}#didcomm`, type: 'DIDCommMessaging', serviceEndpoint: { uri: inboxUrl, accept: ['didcomm/v2'] } }];
  work = mkdtempSync(join(tmpdir(), 'didcomm-gateway-'));
  writeFileSync(join(work, 'bob.json'), JSON.stringify(bobFile));

  ({ server: gateway } = createGateway({ wallet: new Wallet(bobFile), did: BOB, onEvent: (e) => events.push(e), maxBodyBytes: 64 * 1024 }));
  await new Promise((r) => gateway.listen(0, '127.0.0.1', r));
  gatewayUrl = `http://127.0.0.1:${gateway.address().port}/`;
  alice = new Wallet(readWallet('spec-alice.json')).didComm();
});

after(() => {
  gateway?.close();
  inbox?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

const ping = (headers = {}, body = { response_requested: true }) =>
  createMessage(TRUST_PING, body, { from: ALICE, to: [BOB], ...headers });

async function post(url, packed, contentType = ENCRYPTED) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body: packed });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

async function checkResponse(packed, pingMessage) {
  const { message, metadata } = await alice.unpack(packed);
  assert.equal(message.type, TRUST_PING_RESPONSE);
  assert.equal(message.thid, pingMessage.id);
  assert.equal(message.from, BOB);
  assert.deepEqual(message.to, [ALICE]);
  assert.equal(metadata.authenticated, true);
  assert.equal(metadata.encryptedFromKid.startsWith(`${BOB}#`), true);
}

test('trust ping with return_route "all": the response comes back in the HTTP response', async () => {
  const msg = ping({ return_route: 'all' });
  const { packed } = await alice.packEncrypted(msg, BOB, { from: ALICE });
  const res = await post(gatewayUrl, packed);
  assert.equal(res.status, 200);
  assert.equal(res.type, ENCRYPTED);
  await checkResponse(res.text, msg);
});

test('trust ping without return route: 202, then the response is POSTed to the sender\'s endpoint', async () => {
  const msg = ping();
  const { packed } = await alice.packEncrypted(msg, BOB, { from: ALICE, protectSender: true });
  const res = await post(gatewayUrl, packed);
  assert.equal(res.status, 202);
  const event = await nextEvent((e) => e.type === 'handled' && e.id === msg.id);
  assert.equal(event.route, 'endpoint');
  assert.equal(event.endpoint, inboxUrl);
  const arrived = delivered.at(-1);
  assert.equal(arrived.contentType, ENCRYPTED);
  await checkResponse(arrived.body, msg);
});

test('a signed (not encrypted) ping is authenticated and answered too', async () => {
  const msg = ping({ return_route: 'all' });
  const { packed } = await alice.packSigned(msg, ALICE);
  const res = await post(gatewayUrl, packed, 'didcomm-signed+json');
  assert.equal(res.status, 200);
  await checkResponse(res.text, msg);
});

test('no response when none is requested, or when the sender is anonymous', async () => {
  const quiet = ping({ return_route: 'all' }, { response_requested: false });
  const { packed } = await alice.packEncrypted(quiet, BOB, { from: ALICE });
  assert.equal((await post(gatewayUrl, packed)).status, 202);
  assert.equal((await nextEvent((e) => e.type === 'handled' && e.id === quiet.id)).reply, null);

  const anonymous = ping({ return_route: 'all' });
  const anon = await alice.packEncrypted(anonymous, BOB);
  assert.equal((await post(gatewayUrl, anon.packed)).status, 202);
  const received = await nextEvent((e) => e.type === 'received' && e.id === anonymous.id);
  assert.equal(received.authenticated, false);
  assert.equal((await nextEvent((e) => e.type === 'handled' && e.id === anonymous.id)).reply, null);
});

test('HTTP-level refusals: method, media type, size, malformed and undecryptable messages', async () => {
  assert.equal((await fetch(gatewayUrl)).status, 405);
  assert.equal((await post(gatewayUrl, '{}', 'text/plain')).status, 415);
  assert.equal((await post(gatewayUrl, 'x'.repeat(70 * 1024))).status, 413);
  const garbage = await post(gatewayUrl, '{"not": "didcomm"');
  assert.equal(garbage.status, 400);
  assert.deepEqual(JSON.parse(garbage.text), { error: 'malformed' });
  // Encrypted to someone else: the gateway holds none of the keys.
  const other = new Wallet(readWallet('rust-alice.json')).didComm();
  const { packed } = await other.packEncrypted(createMessage(TRUST_PING, {}, { to: ['did:example:charlie'] }), 'did:example:charlie');
  const res = await post(gatewayUrl, packed);
  assert.equal(res.status, 400);
  assert.equal(JSON.parse(res.text).error, 'secret_not_found');
});

test('didcommEndpoint reads the v2.1 object form, the v2.0 string form and lists', () => {
  assert.deepEqual(didcommEndpoint({ service: [{ type: 'DIDCommMessaging', serviceEndpoint: { uri: 'https://a', routingKeys: ['k'] } }] }), { uri: 'https://a', routingKeys: ['k'] });
  assert.deepEqual(didcommEndpoint({ service: [{ type: 'DIDCommMessaging', serviceEndpoint: 'https://b', routingKeys: [] }] }), { uri: 'https://b', routingKeys: [] });
  assert.deepEqual(didcommEndpoint({ service: [{ type: ['X', 'DIDCommMessaging'], serviceEndpoint: [{ uri: 'https://c' }] }] }), { uri: 'https://c', routingKeys: [] });
  assert.equal(didcommEndpoint({ service: [{ type: 'LinkedDomains', serviceEndpoint: 'https://d' }] }), null);
});

test('the program: `node gateway.mjs` serves on 127.0.0.1 and answers a ping', { timeout: 30_000 }, async () => {
  const child = spawn(process.execPath, [fileURLToPath(new URL('../gateway.mjs', import.meta.url))], {
    env: { ...process.env, GATEWAY_WALLET: join(work, 'bob.json'), GATEWAY_DID: BOB, PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    let output = '';
    child.stdout.setEncoding('utf8');
    const url = await new Promise((resolveUrl, reject) => {
      child.stdout.on('data', (chunk) => {
        output += chunk;
        const m = output.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
        if (m) resolveUrl(m[1]);
      });
      child.on('exit', (code) => reject(new Error(`gateway exited with ${code}: ${output}`)));
    });
    const msg = ping({ return_route: 'all' });
    const { packed } = await alice.packEncrypted(msg, BOB, { from: ALICE });
    const res = await post(url, packed);
    assert.equal(res.status, 200);
    await checkResponse(res.text, msg);
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
});
