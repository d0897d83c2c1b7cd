// The edge flow against the real mediator binary (`didcomm-edge-mediator`, in-memory storage, on
// 127.0.0.1) with only `didcomm-edge/sdk` and `fetch`: read the mediator's Out-of-Band
// invitation, request mediation (Coordinate Mediation 2.0), register the inbox DID
// (keylist-update), route a message from a sender to the inbox through the mediator, and pick
// it up (Message Pickup 3.0: status, delivery, messages-received), then unpack it.
//
// The binary: $DIDCOMM_EDGE_MEDIATOR, or target/debug/didcomm-edge-mediator of the workspace
// (`cargo build -p didcomm-edge-mediator`; `make test-wasm` builds it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Wallet, buildProtocolMessage, generateIdentity, oobInvitationFromUrl, parseProtocolMessage,
} from 'didcomm-edge/sdk';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const BINARY = process.env.DIDCOMM_EDGE_MEDIATOR ?? join(ROOT, 'target', 'debug', 'didcomm-edge-mediator');
const STEP_MS = 20_000;
const MEDIATION = 'https://didcomm.org/coordinate-mediation/2.0';
const PICKUP = 'https://didcomm.org/messagepickup/3.0';

let mediator;
let work;
let url;

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

before(async () => {
  assert.ok(existsSync(BINARY), `${BINARY} is missing: cargo build -p didcomm-edge-mediator (or set DIDCOMM_EDGE_MEDIATOR)`);
  work = mkdtempSync(join(tmpdir(), 'didcomm-edge-mediator-'));
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  mediator = spawn(BINARY, [
    '--listen', `127.0.0.1:${port}`, '--data-dir', work, '--database-url', 'memory', '--no-qr', '--admin-listen', 'off',
  ], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the mediator did not start')), STEP_MS);
    let seen = '';
    mediator.stdout.on('data', (chunk) => {
      seen += chunk;
      if (seen.includes('listening on ')) {
        clearTimeout(timer);
        resolve();
      }
    });
    mediator.on('exit', (code) => reject(new Error(`the mediator exited with ${code}`)));
  });
});

after(async () => {
  if (mediator && mediator.exitCode === null) {
    const exited = new Promise((resolve) => mediator.on('exit', resolve));
    mediator.kill('SIGTERM');
    const timer = setTimeout(() => mediator.kill('SIGKILL'), STEP_MS);
    await exited;
    clearTimeout(timer);
  }
  if (work) rmSync(work, { recursive: true, force: true });
});

/** POST a packed message; the status and the body. */
async function post(to, packed) {
  const response = await fetch(to, {
    method: 'POST',
    headers: { 'content-type': 'application/didcomm-encrypted+json' },
    body: packed,
    signal: AbortSignal.timeout(STEP_MS),
  });
  return { status: response.status, body: await response.text() };
}

test('OOB invitation, mediation, keylist update, route, pickup 3.0, unpack: against the real mediator', { timeout: 120_000 }, async () => {
  // The invitation, read from its URL form.
  const published = await (await fetch(`${url}/oob`, { signal: AbortSignal.timeout(STEP_MS) })).json();
  const invitation = oobInvitationFromUrl(published.url);
  const { fields } = parseProtocolMessage(invitation);
  const mediatorDid = fields.from;
  assert.equal(mediatorDid, published.did);

  // The device (talks to the mediator), the inbox (receives through it), and a sender.
  const device = generateIdentity('peer2');
  const deviceDc = new Wallet().addIdentity(device).didComm();
  // The mediator's did:peer resolves built in: its endpoint comes from its DID.
  const route = await deviceDc.resolveRoute(mediatorDid);
  assert.equal(route.uri, url);

  /** One request to the mediator (authcrypted, answered on the same HTTP exchange). */
  async function ask(dc, from, type, requestFields) {
    const request = buildProtocolMessage(type, requestFields, { from, to: [mediatorDid] });
    const { packed } = await dc.packEncrypted(request, mediatorDid, { from });
    const { status, body } = await post(route.uri, packed);
    assert.equal(status, 200, `${type}: HTTP ${status} ${body}`);
    const { message, metadata } = await dc.unpack(body);
    assert.equal(metadata.authenticated, true);
    assert.equal(message.from, mediatorDid);
    assert.equal(message.thid, request.id);
    return parseProtocolMessage(message);
  }

  const grant = await ask(deviceDc, device.did, `${MEDIATION}/mediate-request`, {});
  assert.equal(grant.messageType, `${MEDIATION}/mediate-grant`);
  const [routingDid] = grant.fields.routing_did;
  assert.equal(routingDid, mediatorDid);

  const inbox = generateIdentity('peer2', { uri: routingDid });
  const update = await ask(deviceDc, device.did, `${MEDIATION}/keylist-update`, {
    updates: [{ recipient_did: inbox.did, action: 'add' }],
  });
  assert.equal(update.messageType, `${MEDIATION}/keylist-update-response`);
  assert.deepEqual(update.fields.updated.map((u) => [u.recipient_did, u.result]), [[inbox.did, 'success']]);

  // The sender knows only the inbox's DID: the route comes from its did:peer:2 service.
  const sender = generateIdentity('peer2');
  const senderDc = new Wallet().addIdentity(sender).didComm();
  const message = buildProtocolMessage('https://didcomm.org/basicmessage/2.0/message', { content: 'through the mediator' }, {
    from: sender.did, to: [inbox.did],
  });
  const { packed } = await senderDc.packEncrypted(message, inbox.did, { from: sender.did });
  const routed = await senderDc.route(packed, inbox.did);
  assert.equal(routed.uri, url);
  assert.deepEqual(routed.hops, [mediatorDid]);
  const forwarded = await post(routed.uri, routed.message);
  assert.equal(forwarded.status, 202, `forward: HTTP ${forwarded.status} ${forwarded.body}`);

  // Pickup 3.0 by the device.
  const status = await ask(deviceDc, device.did, `${PICKUP}/status-request`, {});
  assert.equal(status.messageType, `${PICKUP}/status`);
  assert.equal(status.fields.message_count, 1);
  const delivery = await ask(deviceDc, device.did, `${PICKUP}/delivery-request`, { limit: 10 });
  assert.equal(delivery.messageType, `${PICKUP}/delivery`);
  assert.equal(delivery.fields.messages.length, 1);
  const [delivered] = delivery.fields.messages;
  const inboxDc = new Wallet().addIdentity(inbox).didComm();
  const received = await inboxDc.unpack(delivered.message);
  assert.equal(received.message.id, message.id);
  assert.equal(received.message.body.content, 'through the mediator');
  assert.equal(received.metadata.authenticated, true);
  assert.equal(received.metadata.encryptedFromKid, `${sender.did}#key-2`);

  const after = await ask(deviceDc, device.did, `${PICKUP}/messages-received`, { message_id_list: [delivered.id] });
  assert.equal(after.messageType, `${PICKUP}/status`);
  assert.equal(after.fields.message_count, 0);
});
