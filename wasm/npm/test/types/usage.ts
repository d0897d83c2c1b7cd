// Compiled by test/types.test.mjs with `tsc --noEmit` (never run): every public declaration is
// used as a TypeScript user would, and `@ts-expect-error` lines prove that misuse is rejected.
import {
  DidComm, DidCommError, ErrorKind, InMemoryDidResolver, InMemorySecretsResolver, Wallet, createMessage,
  receivedEnding,
} from 'didcomm-edge';
import type {
  Config, DidDocument, DidResolver, Message, PackEncryptedMetadata, PackEncryptedOptions, PackSignedMetadata,
  Secret, SecretsResolver, UnpackMetadata, UnpackOptions, FromPrior, Attachment, WalletFile, ContentEncAlg,
} from 'didcomm-edge';

declare const walletText: string;
// No DOM or @types/node: the declarations must stand alone.
declare function log(...values: unknown[]): void;

async function main(): Promise<void> {
  const doc: DidDocument = {
    id: 'did:example:bob',
    verificationMethod: [{ id: '#key-1', type: 'JsonWebKey2020', controller: 'did:example:bob', publicKeyJwk: { kty: 'OKP', crv: 'X25519', x: 'AA' } }],
    keyAgreement: ['#key-1'],
    authentication: [{ id: '#key-2', type: 'Multikey', publicKeyMultibase: 'z6Mk' }],
    service: [{ id: '#didcomm', type: 'DIDCommMessaging', serviceEndpoint: { uri: 'https://example.org' } }],
  };
  const secret: Secret = { kid: 'did:example:bob#key-1', type: 'JsonWebKey2020', privateKeyJwk: { kty: 'OKP', crv: 'X25519', x: 'AA', d: 'AA' } };
  const resolver = new InMemoryDidResolver([doc]).add(doc);
  const secrets = new InMemorySecretsResolver([secret]).add({ kid: 'k', privateKeyMultibase: 'z' });
  const dids: string[] = resolver.dids();
  const kids: string[] = secrets.kids();
  const removed: boolean = resolver.remove('did:example:x') || secrets.remove('k');

  // Host objects: async, sync, or classes.
  const asyncResolver: DidResolver = { resolve: async (did) => (did === doc.id ? doc : null) };
  const syncResolver: DidResolver = { resolve: () => undefined };
  const store: SecretsResolver = { getSecret: async () => secret, findSecrets: (k) => k };
  const config: Config = { maxMessageSize: 1 << 20, didCacheTtlSeconds: Infinity, staticSecretCacheCapacity: 0 };
  const dc = new DidComm(asyncResolver, store, config);
  new DidComm(syncResolver, secrets);

  const wallet = Wallet.fromJSON(walletText);
  const file: WalletFile = { did_docs: [doc], secrets: [secret] };
  const alice: DidComm = new Wallet(file).didComm({ didCacheCapacity: 10 });
  const walletResolver: InMemoryDidResolver = wallet.resolver;
  const walletSecrets: InMemorySecretsResolver = wallet.secrets;

  const attachment: Attachment = { id: 'a1', media_type: 'application/json', data: { json: { x: [1, 'two', null] } } };
  const message: Message = createMessage('https://didcomm.org/basicmessage/2.0/message', { content: 'hi' }, {
    from: 'did:example:alice', to: ['did:example:bob'], thid: 't', attachments: [attachment], 'x-extension': { a: 1 },
  });
  const literal: Message = { id: '1', type: 'https://example.org/t', body: {}, created_time: 1, custom: true };

  const plain: string = alice.packPlaintext(literal);
  const signed: { packed: string; metadata: PackSignedMetadata } = await alice.packSigned(message, 'did:example:alice');
  const sigAlg: 'EdDSA' | 'ES256' | 'ES256K' = signed.metadata.signAlg;
  const enc: ContentEncAlg = 'XC20P';
  const options: PackEncryptedOptions = { from: 'did:example:alice', signBy: 'did:example:alice#key-1', protectSender: true, encAlgAnon: enc, toKids: ['did:example:bob#key-1'] };
  const { packed, metadata }: { packed: string; metadata: PackEncryptedMetadata } = await alice.packEncrypted(message, 'did:example:bob', options);
  const anon = await alice.packEncrypted(message, 'did:example:bob');
  const toKids: string[] = metadata.toKids;
  const fromKid: string | undefined = metadata.fromKid ?? anon.metadata.signByKid;

  const unpackOptions: UnpackOptions = { expectDecryptByAllKeys: false, unwrapReWrappingForward: true, requireBody: false, checkRecipientInTo: true, rejectExpired: true, now: 1, checkFromPriorTimes: false };
  const result = await dc.unpack(packed, unpackOptions);
  const fromObject = await dc.unpack(JSON.parse(plain) as object);
  const m: Message = result.message;
  const meta: UnpackMetadata = fromObject.metadata;
  const flags: boolean[] = [meta.encrypted, meta.authenticated, meta.nonRepudiation, meta.anonymousSender, meta.reWrappedInForward, meta.expired];
  const optional: Array<string | undefined> = [meta.encryptedFromKid, meta.signFrom, meta.fromPriorIssuerKid, meta.encAlgAuth, meta.encAlgAnon, meta.signAlg, meta.signedMessage];
  const to: string[] | undefined = meta.encryptedToKids;
  const prior: FromPrior | undefined = meta.fromPrior;
  const body = m.body?.content;

  const resolved: DidDocument = await dc.resolve('did:example:bob');
  const claims: FromPrior = { iss: 'did:example:old', sub: 'did:example:alice', iat: 1 };
  const { jwt, issuerKid }: { jwt: string; issuerKid: string } = await alice.packFromPrior(claims, 'did:example:old#key-1');
  const endingClaims: FromPrior = { iss: 'did:example:old' };
  const sub: string | undefined = endingClaims.sub;
  const ending: { jwt: string; issuerKid: string } = await alice.endRelationship('did:example:alice', 'did:example:alice#key-1');
  const ended: string | undefined = receivedEnding(m, meta);
  // @ts-expect-error an ending omits `sub`, it is never null
  const nullSub: FromPrior = { iss: 'did:example:old', sub: null };
  dc.invalidateDid('did:example:bob');
  dc.forgetSecret('did:example:bob#key-1');
  dc.clearCaches();
  dc.free();

  try {
    await dc.unpack('{}');
  } catch (e) {
    if (e instanceof DidCommError) {
      const kind: ErrorKind = e.kind;
      const reason: string = e.reason;
      if (e.kind === ErrorKind.Malformed || kind === 'decryption_failed') log(reason, e.message, e.name);
    }
  }
  const own = new DidCommError(ErrorKind.ResolverFailure, 'network down', { cause: new Error('x') });
  const asError: Error = own;

  // Misuse the declarations must reject:
  // @ts-expect-error snake_case options are not options of this package
  await alice.packEncrypted(message, 'did:example:bob', { protect_sender: true });
  // @ts-expect-error unknown content encryption
  await alice.packEncrypted(message, 'did:example:bob', { encAlgAnon: 'A128GCM' });
  // @ts-expect-error a message needs an id and a type
  alice.packPlaintext({ body: {} });
  // @ts-expect-error kinds are a closed set
  const wrongKind: ErrorKind = 'timeout';
  // @ts-expect-error a resolver must have resolve()
  new DidComm({}, store);
  // @ts-expect-error unpack metadata is camelCase
  void meta.non_repudiation;
  // @ts-expect-error packSigned needs a signer
  await alice.packSigned(message);

  log(dids, kids, removed, walletResolver, walletSecrets, sigAlg, toKids, fromKid, flags, optional, to, prior, body, resolved, jwt, issuerKid, asError, wrongKind, sub, ending, ended, nullSub);
}

void main();
