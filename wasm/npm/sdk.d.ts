// Type declarations of `didcomm-edge/sdk` (hand-written; checked by `test/types.test.mjs`, which
// compiles `test/types/sdk-usage.ts` and `sdk-usage.cts` with `tsc --noEmit`). Everything of the
// main entry, over the SDK module, plus identities, routing and protocol messages. The same
// file serves `import` (sdk.d.ts) and `require` (sdk.d.cts, which reads index.d.cts).

import type {
  Attachment, Config as EngineConfig, ContentEncAlg, DidDocument, DidResolver, JsonValue, Message, Secret, SecretsResolver,
  UnpackMetadata, WalletFile,
} from './index.js';
import { DidComm as EngineDidComm, Wallet as EngineWallet } from './index.js';

export * from './index.js';

// ---------------------------------------------------------------------------------------------
// Resolution: the core's resolver chain
// ---------------------------------------------------------------------------------------------

/** What a did:web fetch needs of a WHATWG `fetch` (`globalThis.fetch` is one). */
export type FetchLike = (
  url: string,
  init: { headers: { [name: string]: string }; redirect: 'error' },
) => Promise<FetchResponseLike>;

/** What a did:web fetch reads of a `Response`. */
export interface FetchResponseLike {
  status: number;
  body?: {
    getReader(): {
      read(): Promise<{ done: boolean; value?: Uint8Array }>;
      cancel?(): unknown;
    };
  } | null;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/**
 * Engine configuration of the SDK: the engine's, plus how DIDs resolve. did:key, did:peer
 * (0, 2, 3, 4) and did:jwk resolve built in; did:web through `fetch`; every other method through
 * the `resolver` given to `DidComm`.
 */
export interface Config extends EngineConfig {
  /** did:web fetches go through this (default `globalThis.fetch`); `null`: did:web is left to the
   * engine's resolver. Redirects are refused, each fetch times out after 10 s, documents are at
   * most 256 KiB. */
  fetch?: FetchLike | null;
  /** How long a did:web document stays cached, seconds (default 300). */
  didWebTtlSeconds?: number;
  /** Fetch `did:web:127.0.0.1...` / `did:web:localhost...` over plain HTTP (local tests only). */
  allowLoopbackHttp?: boolean;
  /** A resolver asked first, for every DID (a wallet's documents win over derived ones). */
  pinned?: DidResolver;
}

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------

/** Options of the routing methods. */
export interface RouteOptions {
  /** Content encryption of each anoncrypted forward (default A256CBC-HS512). */
  encAlgAnon?: ContentEncAlg;
  /** Use this `DIDCommMessaging` service of the recipient (its absolute id). */
  serviceId?: string;
  /** `expires_time` of every forward. */
  expiresTime?: number;
  /** `delay_milli` of every forward (negative: a random delay up to its absolute value). */
  delayMilli?: number;
  /** Other headers to put on every forward. */
  forwardHeaders?: { [header: string]: JsonValue };
}

/** Where and how a message for a recipient travels (read from DID documents, no crypto). */
export interface Route {
  /** The transport URI to send the outermost message to. */
  uri: string;
  /** The recipient's service that was chosen. */
  serviceId: string;
  /** What the receiving endpoint accepts (empty: unspecified). */
  accept: string[];
  /** The mediators' keys or DIDs, first receiver first; empty when sent directly. */
  hops: string[];
}

/** A routed message: the packed input wrapped once per hop, and where to send it. */
export interface Routed extends Route {
  message: string;
}

/** A Routing 2.0 forward: pass `messages` (JSON text each) on to `next`. */
export interface Forward {
  next: string;
  messages: string[];
  expiresTime?: number;
  delayMilli?: number;
}

/** The engine of the SDK: resolves built-in DID methods itself, and routes. */
export class DidComm extends EngineDidComm {
  /** `resolver` is asked for the DID methods the SDK does not resolve itself (may be null). */
  constructor(resolver: DidResolver | null | undefined, secrets: SecretsResolver, config?: Config);
  /** Where a message for `to` goes and through which mediators. */
  resolveRoute(to: string, options?: RouteOptions): Promise<Route>;
  /** Wrap the encrypted `packed` in one anoncrypted forward per mediator of `to`'s service. */
  route(packed: string | object, to: string, options?: RouteOptions): Promise<Routed>;
  /** Wrap `packed` in forwards along `hops` (first receiver first), the last naming `next`. */
  wrapInForward(packed: string | object, next: string, hops: string[], options?: RouteOptions): Promise<string>;
  /** (Mediator side) unpack a forward addressed to us and read it. */
  unwrapForward(packed: string | object): Promise<{ forward: Forward; metadata: UnpackMetadata }>;
}

// ---------------------------------------------------------------------------------------------
// Identities and wallets
// ---------------------------------------------------------------------------------------------

export type IdentityMethod = 'peer2' | 'peer4' | 'key';
/** JWK curve names. */
export type KeyType = 'Ed25519' | 'X25519' | 'P-256' | 'P-384' | 'P-521' | 'secp256k1';

/** A DIDComm v2 service to publish in a new did:peer. */
export interface ServiceOptions {
  /** Transport URI or a mediator's DID. */
  uri: string;
  /** DID URLs of the mediators' keys, outermost mediator last. */
  routingKeys?: string[];
  /** Accepted profiles (default `['didcomm/v2']`). */
  accept?: string[];
}

/** A generated identity: the DID, its document and its secrets (wallet form). */
export interface Identity {
  did: string;
  document: DidDocument;
  secrets: Secret[];
}

/** A new identity with fresh keys (Ed25519 `#key-1`, X25519 `#key-2` for did:peer). */
export function generateIdentity(method: IdentityMethod, services?: ServiceOptions | ServiceOptions[]): Identity;
/** A did:key identity for a fresh key (an Ed25519 key brings its derived X25519 secret). */
export function generateDidKey(keyType: KeyType): Identity;

/** A wallet that takes identities and exports itself. */
export class Wallet extends EngineWallet {
  constructor(json?: string | WalletFile);
  static fromJSON(json: string | WalletFile): Wallet;
  /** Add an identity's documents (a long form did:peer:4 brings its short form) and secrets. */
  addIdentity(identity: Identity): this;
  /** Add a peer's DID document. */
  addDocument(doc: DidDocument): this;
  /** The wallet file: `new Wallet(wallet.toJSON())` is the same wallet. */
  toJSON(): { did_docs: DidDocument[]; secrets: Secret[] };
  /** An engine: this wallet's documents first, then the built-in methods, then `host`. */
  didComm(config?: Config, host?: DidResolver): DidComm;
}

// ---------------------------------------------------------------------------------------------
// Protocol messages (the core's registry; fields in the core's typed form, snake_case)
// ---------------------------------------------------------------------------------------------

/** Headers to set on a built message (`from`, `to`, `thid`, `expires_time`, custom ones);
 * `type` and `body` are not headers. */
export interface MessageHeaders {
  id?: string;
  typ?: string;
  from?: string;
  to?: string[];
  thid?: string;
  pthid?: string;
  created_time?: number;
  expires_time?: number;
  attachments?: Attachment[];
  from_prior?: string;
  please_ack?: string[];
  ack?: string[];
  type?: never;
  body?: never;
  [header: string]: unknown;
}

/** A protocol message read into its typed form. */
export interface ProtocolMessage {
  messageType: string;
  /** The protocol identifier (PIURI). */
  protocol: string;
  fields: { [field: string]: JsonValue };
}

/** Every message type `buildProtocolMessage` and `parseProtocolMessage` know: Coordinate
 * Mediation 2.0 and 3.0, Message Pickup 3.0 and 4.0, Trust Ping, Basic Message, Report Problem,
 * Discover Features, Out-of-Band invitations, Routing `forward`, Empty. */
export function protocolMessageTypes(): string[];
/** A message of `type` from its typed form (a Pickup 3.0 `delivery-request` is
 * `{ limit: 10 }`), plus `headers`. `unsupported` for unknown types, `malformed` for bad fields. */
export function buildProtocolMessage(type: string, fields?: object, headers?: MessageHeaders): Message;
/** Read a protocol message into its typed form, its body validated. */
export function parseProtocolMessage(message: Message): ProtocolMessage;
/** `reply` in the thread of `request`, to its sender, acknowledging what it asked to be. */
export function replyTo(request: Message, reply: Message): Message;
/** A pure ACK of `ids` (none for none). */
export function pureAck(ids: string[]): Message | undefined;
/** The `ping-response` to a received `ping` (none when it asked for none). */
export function trustPingResponse(ping: Message, headers?: MessageHeaders): Message | undefined;
/** `base` with the invitation in its `_oob` query parameter. */
export function oobInvitationUrl(invitation: Message, base: string): string;
/** The invitation in a URL's `_oob` parameter (`_oobid` URLs are `unsupported`: fetch first). */
export function oobInvitationFromUrl(url: string): Message;
/** The request messages attached to an invitation. */
export function oobAttachedMessages(invitation: Message): Message[];
/** `reply` as the first message of the thread the invitation starts. */
export function oobReply(invitation: Message, reply: Message): Message;
