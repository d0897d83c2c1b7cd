// Compiled by test/types.test.mjs with `tsc --noEmit` (never run): the `didcomm-edge/sdk`
// declarations used as a TypeScript user would; `@ts-expect-error` lines prove misuse is rejected.
import {
  DidComm, DidCommError, InMemorySecretsResolver, Wallet, buildProtocolMessage, createMessage, generateDidKey,
  generateIdentity, oobAttachedMessages, oobInvitationFromUrl, oobInvitationUrl, oobReply, parseProtocolMessage,
  protocolMessageTypes, pureAck, replyTo, trustPingResponse,
} from 'didcomm-edge/sdk';
import type {
  Config, FetchLike, Forward, Identity, Message, ProtocolMessage, Route, RouteOptions, Routed, ServiceOptions,
  UnpackMetadata,
} from 'didcomm-edge/sdk';
import { DidComm as EngineDidComm } from 'didcomm-edge';

declare function log(...values: unknown[]): void;
declare const fetchImpl: FetchLike;

async function main(): Promise<void> {
  const service: ServiceOptions = { uri: 'did:example:mediator', routingKeys: ['did:example:mediator#key-1'] };
  const alice: Identity = generateIdentity('peer2', service);
  const bob: Identity = generateIdentity('peer4', [service, { uri: 'wss://m.example.org/ws', accept: ['didcomm/v2'] }]);
  const key: Identity = generateDidKey('P-256');
  const wallet = new Wallet().addIdentity(alice).addDocument(bob.document);
  const file: { did_docs: unknown[]; secrets: unknown[] } = Wallet.fromJSON(wallet.toJSON()).toJSON();
  const config: Config = { fetch: fetchImpl, didWebTtlSeconds: 60, allowLoopbackHttp: false, pinned: wallet.resolver, maxMessageSize: 1 << 20 };
  const dc: DidComm = wallet.didComm(config, { resolve: () => null });
  const plain: DidComm = new DidComm(null, new InMemorySecretsResolver(), { fetch: null });
  const asEngine: EngineDidComm = plain;

  const msg: Message = createMessage('https://didcomm.org/basicmessage/2.0/message', { content: 'hi' }, { from: alice.did, to: [bob.did] });
  const { packed } = await dc.packEncrypted(msg, bob.did, { from: alice.did });
  const options: RouteOptions = { encAlgAnon: 'A256GCM', serviceId: `${bob.did}#service`, expiresTime: 1, delayMilli: -5, forwardHeaders: { a: 1 } };
  const route: Route = await dc.resolveRoute(bob.did, options);
  const routed: Routed = await dc.route(packed, bob.did);
  const wrapped: string = await dc.wrapInForward(packed, bob.did, route.hops, options);
  const { forward, metadata }: { forward: Forward; metadata: UnpackMetadata } = await dc.unwrapForward(routed.message);
  const next: string = forward.next;

  const types: string[] = protocolMessageTypes();
  const request: Message = buildProtocolMessage('https://didcomm.org/messagepickup/3.0/delivery-request', { limit: 10 }, { from: alice.did });
  const parsed: ProtocolMessage = parseProtocolMessage(request);
  const reply: Message = replyTo(request, createMessage('t'));
  const ack: Message | undefined = pureAck([request.id]);
  const pong: Message | undefined = trustPingResponse(request, { from: bob.did });
  const url: string = oobInvitationUrl(request, 'https://example.org');
  const invitation: Message = oobInvitationFromUrl(url);
  const attached: Message[] = oobAttachedMessages(invitation);
  const first: Message = oobReply(invitation, reply);
  log(key, file, plain, asEngine, wrapped, metadata, next, types, parsed.fields, ack, pong, attached, first);

  // @ts-expect-error methods are 'peer2', 'peer4' or 'key'
  generateIdentity('peer9');
  // @ts-expect-error key types are JWK curve names
  generateDidKey('p256');
  // @ts-expect-error a service needs a uri
  generateIdentity('peer2', { routingKeys: [] });
  // @ts-expect-error route options are camelCase
  await dc.route(packed, bob.did, { enc_alg_anon: 'A256GCM' });
  // @ts-expect-error type and body are not headers
  buildProtocolMessage('t', {}, { type: 'x' });
  try {
    parseProtocolMessage(createMessage('t'));
  } catch (e) {
    if (e instanceof DidCommError) log(e.kind);
  }
}

export { main };
