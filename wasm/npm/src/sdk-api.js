// The public API of `didcomm-edge/sdk`: the main entry's API over the SDK module (whose
// `DidComm` resolves did:key, did:peer, did:jwk and did:web itself and routes), plus
// identities and protocol messages. Names from the wasm module are listed one by one: its
// exports starting with `__` are internal.
import { DidComm, __identityWallet, __parseWallet } from './didcomm_edge_sdk.js';
import { walletClass } from './stores.js';

export {
  DidComm, createMessage, receivedEnding, generateIdentity, generateDidKey, protocolMessageTypes,
  buildProtocolMessage, parseProtocolMessage, replyTo, pureAck, trustPingResponse, oobInvitationUrl,
  oobInvitationFromUrl, oobAttachedMessages, oobReply,
} from './didcomm_edge_sdk.js';
export { DidCommError, ErrorKind } from './errors.js';
export { InMemoryDidResolver, InMemorySecretsResolver } from './stores.js';

/**
 * A wallet that also takes identities, exports itself (`toJSON`, the wallet file), and makes
 * engines whose resolver asks its documents first, then the built-in methods, then `host`.
 */
export class Wallet extends walletClass(DidComm, __parseWallet) {
  /** Add an identity (`generateIdentity`): its documents (a long form did:peer:4 brings its
   * short form) and secrets. */
  addIdentity(identity) {
    const { did_docs, secrets } = __identityWallet(identity);
    for (const doc of did_docs) this.resolver.add(doc);
    for (const secret of secrets) this.secrets.add(secret);
    return this;
  }

  /** Add a peer's DID document (checked as a wallet file's). */
  addDocument(doc) {
    for (const checked of __parseWallet({ did_docs: [doc], secrets: [] }).did_docs) this.resolver.add(checked);
    return this;
  }

  /** The wallet file `{did_docs, secrets}`: `new Wallet(wallet.toJSON())` is the same wallet. */
  toJSON() {
    return { did_docs: this.resolver.documents(), secrets: this.secrets.secrets() };
  }

  /** A `DidComm` engine over this wallet: its documents first (pinned), then the built-in
   * methods, then `host` for any other method. */
  didComm(config, host) {
    return new DidComm(host ?? null, this.secrets, { ...config, pinned: this.resolver });
  }
}
