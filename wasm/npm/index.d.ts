// Type declarations of the `didcomm-edge` npm package (hand-written; checked by
// `test/types.test.mjs`, which compiles `test/types/usage.ts` and `usage.cts` with `tsc --noEmit`).
// The same file serves `import` (index.d.ts) and `require` (index.d.cts) consumers.

// ---------------------------------------------------------------------------------------------
// Data formats (the JSON of the DIDComm v2 and DID Core specifications, field names as on the wire)
// ---------------------------------------------------------------------------------------------

/** Any JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A DIDComm v2 plaintext message. Unknown headers are kept and written back. */
export interface Message {
  /** Message id, unique to the sender. */
  id: string;
  /** Message type URI, e.g. `https://didcomm.org/basicmessage/2.0/message`. */
  type: string;
  /** Media type: `application/didcomm-plain+json` when present. */
  typ?: string;
  /** Sender DID (required for authcrypt). */
  from?: string;
  /** Recipient DIDs. */
  to?: string[];
  /** Thread id. */
  thid?: string;
  /** Parent thread id. */
  pthid?: string;
  /** Creation time, UTC epoch seconds. */
  created_time?: number;
  /** Expiry time, UTC epoch seconds. */
  expires_time?: number;
  /** Type-specific content (optional since DIDComm v2.1). */
  body?: { [key: string]: JsonValue };
  /** Attachments. */
  attachments?: Attachment[];
  /** DID rotation: a compact JWT signed by the prior DID (see `DidComm.packFromPrior`). */
  from_prior?: string;
  /** Ids of messages whose receipt the sender asks to be acknowledged. */
  please_ack?: string[];
  /** Ids of messages this message acknowledges. */
  ack?: string[];
  /** Any other header. */
  [header: string]: unknown;
}

/** A message attachment. */
export interface Attachment {
  data: AttachmentData;
  id?: string;
  description?: string;
  filename?: string;
  media_type?: string;
  format?: string;
  lastmod_time?: number;
  byte_count?: number;
  [member: string]: unknown;
}

/** Attachment content: inline base64 or JSON, or links with a hash; optionally signed. */
export type AttachmentData =
  | { base64: string; jws?: JsonValue; hash?: string }
  | { json: JsonValue; jws?: JsonValue; hash?: string }
  | { links: string[]; hash: string; jws?: JsonValue };

/** `from_prior` JWT claims (DID rotation; without `sub`, the end of the relationship). */
export interface FromPrior {
  /** The prior DID. */
  iss: string;
  /** The new DID (the message's `from`); absent when the relationship ends (never `null`). */
  sub?: string;
  aud?: string;
  exp?: number;
  nbf?: number;
  iat?: number;
  jti?: string;
}

/** A W3C DID document (as far as DIDComm reads it; other members are kept). */
export interface DidDocument {
  '@context'?: JsonValue;
  id: string;
  alsoKnownAs?: string[];
  controller?: JsonValue;
  verificationMethod?: VerificationMethod[];
  /** References (DID URLs, absolute or relative) or embedded methods. */
  authentication?: Array<string | VerificationMethod>;
  assertionMethod?: Array<string | VerificationMethod>;
  keyAgreement?: Array<string | VerificationMethod>;
  capabilityInvocation?: Array<string | VerificationMethod>;
  capabilityDelegation?: Array<string | VerificationMethod>;
  service?: Service[];
  [member: string]: unknown;
}

/** A verification method: `JsonWebKey2020` (`publicKeyJwk`), `Multikey` (`publicKeyMultibase`), ... */
export interface VerificationMethod {
  id: string;
  type: string;
  controller?: string;
  publicKeyJwk?: { [member: string]: JsonValue };
  publicKeyMultibase?: string;
  publicKeyBase58?: string;
  [member: string]: unknown;
}

/** A DID document service, e.g. `DIDCommMessaging`. */
export interface Service {
  id: string;
  type: string | string[];
  serviceEndpoint: JsonValue;
  [member: string]: unknown;
}

/** A private key with its key id: `{kid, type, privateKeyJwk | privateKeyMultibase}`. */
export type Secret =
  | { kid: string; type?: string; privateKeyJwk: { [member: string]: JsonValue } }
  | { kid: string; type?: string; privateKeyMultibase: string };

/** A wallet file: DID documents and secrets (the CLI's and the test vectors' format). */
export interface WalletFile {
  did_docs?: DidDocument[];
  secrets?: Array<Secret | { id: string; type?: string; privateKeyJwk?: object; privateKeyMultibase?: string }>;
  [member: string]: unknown;
}

// ---------------------------------------------------------------------------------------------
// Host interfaces: implement these to plug in DID methods and key storage
// ---------------------------------------------------------------------------------------------

/**
 * Resolves DIDs. Return `null` (or `undefined`) when the DID does not exist; throw when
 * resolution could not be attempted (the error surfaces as kind `resolver_failure`).
 */
export interface DidResolver {
  resolve(did: string): Promise<DidDocument | null | undefined> | DidDocument | null | undefined;
}

/**
 * Gives access to private keys. The snake_case names of `didcomm-node` (`get_secret`,
 * `find_secrets`) are accepted as well.
 */
export interface SecretsResolver {
  /** The secret for `kid`, or `null` when not held. */
  getSecret(kid: string): Promise<Secret | null | undefined> | Secret | null | undefined;
  /** Which of `kids` are held (order kept). */
  findSecrets(kids: string[]): Promise<string[]> | string[];
}

// ---------------------------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------------------------

/** Engine configuration; every member is optional. */
export interface Config {
  /** Packed messages longer than this many bytes are refused before parsing (default 4 MiB). */
  maxMessageSize?: number;
  /** How many resolved DID documents to keep (default 1024). */
  didCacheCapacity?: number;
  /** How long a resolved document stays cached, seconds (default 600; `Infinity`: until evicted). */
  didCacheTtlSeconds?: number;
  /** How many parsed private keys to keep (default 256; 0 disables). */
  secretCacheCapacity?: number;
  /** How many ECDH-1PU static-static secrets to keep (default 1024; 0 disables). */
  staticSecretCacheCapacity?: number;
  /** How many forwards addressed to us may be unwrapped within one unpack (default 4). */
  maxForwardUnwraps?: number;
}

/** Content encryption of anoncrypt envelopes (authcrypt always uses A256CBC-HS512). */
export type ContentEncAlg = 'A256CBC-HS512' | 'A256GCM' | 'XC20P';

/** Options of `DidComm.packEncrypted`. */
export interface PackEncryptedOptions {
  /** Sender DID or key id: authcrypt when given, anoncrypt otherwise. Must be the message's `from`. */
  from?: string;
  /** Sign the message first (DID or key id of the message's `from`). */
  signBy?: string;
  /** Wrap the authcrypt envelope in an anoncrypt one, hiding the sender's key id. */
  protectSender?: boolean;
  /** Content encryption of anoncrypt envelopes (default `A256CBC-HS512`). */
  encAlgAnon?: ContentEncAlg;
  /** Encrypt only to these key ids of the recipient DID (default: every key of the chosen curve). */
  toKids?: string[];
}

/** What `DidComm.packEncrypted` did. */
export interface PackEncryptedMetadata {
  /** The authcrypt sender key id (absent for anoncrypt). */
  fromKid?: string;
  /** The recipient key ids. */
  toKids: string[];
  /** The signing key id, when signed first. */
  signByKid?: string;
}

/** What `DidComm.packSigned` did. */
export interface PackSignedMetadata {
  signByKid: string;
  signAlg: SignAlg;
}

export type SignAlg = 'EdDSA' | 'ES256' | 'ES256K';
export type AuthCryptAlg = 'ECDH-1PU+A256KW/A256CBC-HS512';
export type AnonCryptAlg = 'ECDH-ES+A256KW/A256CBC-HS512' | 'ECDH-ES+A256KW/A256GCM' | 'ECDH-ES+A256KW/XC20P';

/** Options of `DidComm.unpack`. */
export interface UnpackOptions {
  /** Require the payload to decrypt with every recipient key held, not just one (default false). */
  expectDecryptByAllKeys?: boolean;
  /** Unwrap a forward whose `next` is one of our own DIDs or keys (default true). */
  unwrapReWrappingForward?: boolean;
  /** Refuse plaintext without `body`, the DIDComm v2.0 rule (default false). */
  requireBody?: boolean;
  /** Refuse a message encrypted to a DID its `to` does not list (default true). */
  checkRecipientInTo?: boolean;
  /** Refuse messages whose `expires_time` has passed (default false: reported as `expired`). */
  rejectExpired?: boolean;
  /** The time to judge expiry against, epoch seconds (default: now). */
  now?: number;
  /** Refuse a `from_prior` JWT outside its `exp` / `nbf` / `iat`, 300 s of skew allowed (default true). */
  checkFromPriorTimes?: boolean;
}

/** What unpacking found out about the envelope. */
export interface UnpackMetadata {
  /** The message was encrypted. */
  encrypted: boolean;
  /** The sender was authenticated (authcrypt or signature). */
  authenticated: boolean;
  /** The message was signed: the sender cannot deny it. */
  nonRepudiation: boolean;
  /** An anoncrypt layer hid the sender. */
  anonymousSender: boolean;
  /** The message came wrapped in a forward addressed to us. */
  reWrappedInForward: boolean;
  /** `expires_time` has passed. */
  expired: boolean;
  /** The authcrypt sender key id. */
  encryptedFromKid?: string;
  /** The recipient key ids of the (innermost) encrypted layer. */
  encryptedToKids?: string[];
  /** The signer key id. */
  signFrom?: string;
  /** The key id that signed `from_prior`. */
  fromPriorIssuerKid?: string;
  encAlgAuth?: AuthCryptAlg;
  encAlgAnon?: AnonCryptAlg;
  signAlg?: SignAlg;
  /** The signed message (JWS) itself, kept for non-repudiation. */
  signedMessage?: string;
  /** The verified `from_prior` claims. */
  fromPrior?: FromPrior;
}

/**
 * The DIDComm v2 envelope engine: pack, unpack and resolve, over a DID resolver and a secrets
 * store that the host supplies. It caches resolved documents, parsed keys and ECDH-1PU shared
 * secrets; one engine per identity set, kept for the process's life, is the fast way to use it.
 * Async methods never throw synchronously: they reject with a `DidCommError`.
 */
export class DidComm {
  constructor(resolver: DidResolver, secrets: SecretsResolver, config?: Config);

  /** Serialize a plaintext message after checking it. */
  packPlaintext(message: Message): string;

  /** Sign a message (JWS, General JSON). `signBy`: a DID (its first authentication key held) or key id. */
  packSigned(message: Message, signBy: string): Promise<{ packed: string; metadata: PackSignedMetadata }>;

  /**
   * Encrypt a message to `to` (a DID or one of its key ids): authcrypt when `options.from` is
   * given, anoncrypt otherwise. A message to several DIDs is packed once per DID.
   */
  packEncrypted(
    message: Message,
    to: string,
    options?: PackEncryptedOptions,
  ): Promise<{ packed: string; metadata: PackEncryptedMetadata }>;

  /** Unpack a message of any form (JSON text or parsed object), verify it, and report what protected it. */
  unpack(packed: string | object, options?: UnpackOptions): Promise<{ message: Message; metadata: UnpackMetadata }>;

  /** Resolve a DID through the engine's cache. Rejects with kind `did_not_resolved` when unknown. */
  resolve(did: string): Promise<DidDocument>;

  /** Sign `from_prior` claims with a key of the prior DID (`claims.iss`), for a message's `from_prior` header. */
  packFromPrior(claims: FromPrior, issuerKid?: string): Promise<{ jwt: string; issuerKid: string }>;

  /**
   * End the relationship that uses `did` (rotate it to no DID): the `from_prior` JWT without
   * `sub`, signed by `did`. Put it on a message without `from` and pack that anoncrypt to the peer.
   */
  endRelationship(did: string, issuerKid?: string): Promise<{ jwt: string; issuerKid: string }>;

  /** Drop the cached document of `did` (after learning it changed). */
  invalidateDid(did: string): void;
  /** Drop a cached private key (after deleting or replacing it in the store). */
  forgetSecret(kid: string): void;
  /** Drop every cached document, key and shared secret. */
  clearCaches(): void;

  /** Release the engine's memory now rather than when it is garbage collected. */
  free(): void;
}

/**
 * A new plaintext message: a random id, `typ`, `created_time` now, the given type and body, and
 * any other `headers` (`from`, `to`, `thid`, ...). Throws a `DidCommError` when the result is not
 * a valid message.
 */
export function createMessage(
  type: string,
  body?: { [key: string]: JsonValue },
  headers?: Omit<Partial<Message>, 'type' | 'body'>,
): Message;

/**
 * The DID whose relationship a received message ended (a verified `fromPrior` without `sub` on a
 * message without `from`), or `undefined`.
 */
export function receivedEnding(message: Message, metadata: UnpackMetadata): string | undefined;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** The error kinds, as the strings found in `DidCommError.kind`. */
export declare const ErrorKind: {
  readonly Malformed: 'malformed';
  readonly Unsupported: 'unsupported';
  readonly DidNotResolved: 'did_not_resolved';
  readonly DidUrlNotFound: 'did_url_not_found';
  readonly SecretNotFound: 'secret_not_found';
  readonly NoCompatibleKeys: 'no_compatible_keys';
  readonly DecryptionFailed: 'decryption_failed';
  readonly InvalidSignature: 'invalid_signature';
  readonly SenderMismatch: 'sender_mismatch';
  readonly RecipientMismatch: 'recipient_mismatch';
  readonly TooLarge: 'too_large';
  readonly Expired: 'expired';
  readonly IllegalArgument: 'illegal_argument';
  readonly ResolverFailure: 'resolver_failure';
  readonly InvalidState: 'invalid_state';
};
export type ErrorKind = (typeof ErrorKind)[keyof typeof ErrorKind];

/** Every failure of the package. `message` is `"<kind>: <reason>"`. */
export class DidCommError extends Error {
  constructor(kind: ErrorKind, reason: string, options?: { cause?: unknown });
  /** What went wrong, for code. */
  readonly kind: ErrorKind;
  /** Why, for humans; never holds key material or message contents. */
  readonly reason: string;
}

// ---------------------------------------------------------------------------------------------
// In-memory helpers
// ---------------------------------------------------------------------------------------------

/** Resolves a fixed, editable set of DID documents. */
export class InMemoryDidResolver implements DidResolver {
  constructor(docs?: Iterable<DidDocument>);
  /** Add or replace a document (keyed by its `id`). */
  add(doc: DidDocument): this;
  /** Remove a document; true if it was there. */
  remove(did: string): boolean;
  /** The DIDs known. */
  dids(): string[];
  /** The documents held. */
  documents(): DidDocument[];
  resolve(did: string): Promise<DidDocument | null>;
}

/** Holds secrets in memory, keyed by `kid`. */
export class InMemorySecretsResolver implements SecretsResolver {
  constructor(secrets?: Iterable<Secret>);
  /** Add or replace a secret. */
  add(secret: Secret): this;
  /** Remove a secret; true if it was there. */
  remove(kid: string): boolean;
  /** The key ids held. */
  kids(): string[];
  /** The secrets held. */
  secrets(): Secret[];
  getSecret(kid: string): Promise<Secret | null>;
  findSecrets(kids: string[]): Promise<string[]>;
}

/** DID documents and secrets kept together, loaded from a wallet file and checked by the core. */
export class Wallet {
  /** Throws a `DidCommError` (kind `malformed`) when the file or one of its keys is invalid. */
  constructor(json?: string | WalletFile);
  /** The same as `new Wallet(json)`. */
  static fromJSON(json: string | WalletFile): Wallet;
  readonly resolver: InMemoryDidResolver;
  readonly secrets: InMemorySecretsResolver;
  /** A `DidComm` engine over this wallet's resolver and secrets. */
  didComm(config?: Config): DidComm;
}
