// A DIDComm v2 gateway for Node.js on the `didcomm-edge` npm package: it receives DIDComm
// messages over HTTP (POST, any DIDComm media type), unpacks them, answers trust pings
// (https://didcomm.org/trust-ping/2.0/) and hands every other message to `onMessage`.
//
// Replies travel back in the HTTP response when the sender asked for it with the
// `return_route: "all"` header (DIDComm transport return-route extension); otherwise they are
// POSTed to the sender's DIDCommMessaging service endpoint.
//
//   GATEWAY_WALLET=bob.json GATEWAY_DID=did:example:bob PORT=8080 node gateway.mjs
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DidCommError, ErrorKind, Wallet, createMessage } from 'didcomm-edge';

export const TRUST_PING = 'https://didcomm.org/trust-ping/2.0/ping';
export const TRUST_PING_RESPONSE = 'https://didcomm.org/trust-ping/2.0/ping-response';
export const DIDCOMM_MEDIA_TYPES = [
  'application/didcomm-encrypted+json',
  'application/didcomm-signed+json',
  'application/didcomm-plain+json',
];
const ENCRYPTED = DIDCOMM_MEDIA_TYPES[0];

/**
 * @param {object} options
 * @param {Wallet} options.wallet the gateway's identity (its DID document, keys, and known peers)
 * @param {string} options.did the gateway's DID
 * @param {(message: object, metadata: object) => Promise<object | null | void>} [options.onMessage]
 *   other messages; may return a plaintext reply
 * @param {(event: object) => void} [options.onEvent] what happened, for logs and tests
 * @param {number} [options.maxBodyBytes]
 * @returns {{ server: import('node:http').Server, didComm: import('didcomm-edge').DidComm }}
 */
export function createGateway({ wallet, did, onMessage = async () => null, onEvent = () => {}, maxBodyBytes = 1 << 20 }) {
  const didComm = wallet.didComm({ maxMessageSize: maxBodyBytes });

  /** The plaintext reply to a message, if any. */
  async function reply(message, metadata) {
    if (message.type === TRUST_PING) {
      // Only authenticated senders get an answer: replying to whatever `from` an anonymous
      // message claims would let anyone aim the gateway at a third party.
      if (message.body?.response_requested === false || !metadata.authenticated || !message.from) return null;
      return createMessage(TRUST_PING_RESPONSE, {}, { from: did, to: [message.from], thid: message.id });
    }
    return (await onMessage(message, metadata)) ?? null;
  }

  async function handle(req, res) {
    if (req.method !== 'POST') return send(res, 405, { error: 'use POST' }, { allow: 'POST' });
    const mediaType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    // Media types may omit the `application/` prefix (DIDComm v2.1, "IANA Media Types").
    if (!DIDCOMM_MEDIA_TYPES.some((t) => mediaType === t || mediaType === t.slice('application/'.length))) {
      return send(res, 415, { error: `expected one of ${DIDCOMM_MEDIA_TYPES.join(', ')}` });
    }
    if (Number(req.headers['content-length'] ?? 0) > maxBodyBytes) {
      return send(res, 413, { error: 'message too large' }, { connection: 'close' });
    }
    const body = await readBody(req, maxBodyBytes);
    if (body === null) return send(res, 413, { error: 'message too large' });

    let unpacked;
    try {
      unpacked = await didComm.unpack(body);
    } catch (err) {
      if (!(err instanceof DidCommError)) throw err;
      onEvent({ type: 'rejected', kind: err.kind });
      // A host failure (resolver or key store down) is ours, not the sender's.
      const status = err.kind === ErrorKind.ResolverFailure ? 503 : 400;
      return send(res, status, { error: err.kind });
    }
    const { message, metadata } = unpacked;
    onEvent({ type: 'received', messageType: message.type, id: message.id, from: message.from, authenticated: metadata.authenticated });

    const answer = await reply(message, metadata);
    if (!answer) {
      onEvent({ type: 'handled', id: message.id, reply: null });
      return send(res, 202);
    }
    const { packed } = await didComm.packEncrypted(answer, answer.to[0], { from: did });
    if (message.return_route === 'all') {
      onEvent({ type: 'handled', id: message.id, reply: answer.id, route: 'return' });
      res.writeHead(200, { 'content-type': ENCRYPTED });
      return res.end(packed);
    }
    send(res, 202);
    try {
      const endpoint = await deliver(answer.to[0], packed);
      onEvent({ type: 'handled', id: message.id, reply: answer.id, route: 'endpoint', endpoint });
    } catch (err) {
      onEvent({ type: 'handled', id: message.id, reply: answer.id, route: 'failed', error: String(err.message ?? err) });
    }
  }

  /** POST a packed message to the recipient's DIDCommMessaging endpoint. */
  async function deliver(recipient, packed) {
    const doc = await didComm.resolve(recipient);
    const endpoint = didcommEndpoint(doc);
    if (!endpoint) throw new Error(`${recipient} has no DIDCommMessaging endpoint`);
    // Mediated recipients need a forward per routing key; that arrives with the routing builders.
    if (endpoint.routingKeys.length > 0) throw new Error(`${recipient} is reached through a mediator (not supported yet)`);
    if (!/^https?:\/\//.test(endpoint.uri)) throw new Error(`unsupported endpoint ${endpoint.uri}`);
    const response = await fetch(endpoint.uri, { method: 'POST', headers: { 'content-type': ENCRYPTED }, body: packed });
    if (!response.ok) throw new Error(`${endpoint.uri} answered ${response.status}`);
    return endpoint.uri;
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      onEvent({ type: 'error', error: String(err?.message ?? err) });
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.end();
    });
  });
  return { server, didComm };
}

/** The first DIDCommMessaging endpoint of a DID document: v2.1 object form, v2.0 string form, or a list. */
export function didcommEndpoint(doc) {
  for (const service of doc.service ?? []) {
    const types = [service.type].flat();
    if (!types.includes('DIDCommMessaging')) continue;
    for (const ep of [service.serviceEndpoint].flat()) {
      if (typeof ep === 'string') return { uri: ep, routingKeys: service.routingKeys ?? [] };
      if (ep && typeof ep.uri === 'string') return { uri: ep.uri, routingKeys: ep.routingKeys ?? [] };
    }
  }
  return null;
}

function send(res, status, json, headers = {}) {
  if (json === undefined) {
    res.writeHead(status, headers);
    return res.end();
  }
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(json));
}

/** The request body as text, or null when it exceeds `limit` bytes (the excess is discarded). */
function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// Run as a program.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const walletPath = process.env.GATEWAY_WALLET;
  const did = process.env.GATEWAY_DID;
  if (!walletPath || !did) {
    console.error('set GATEWAY_WALLET (a wallet file) and GATEWAY_DID');
    process.exit(2);
  }
  const host = process.env.HOST ?? '127.0.0.1';
  const port = Number(process.env.PORT ?? 8080);
  const { server } = createGateway({
    wallet: new Wallet(readFileSync(walletPath, 'utf8')),
    did,
    onEvent: (event) => console.log(JSON.stringify(event)),
  });
  server.listen(port, host, () => {
    console.log(`didcomm gateway for ${did} listening on http://${host}:${server.address().port}`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
