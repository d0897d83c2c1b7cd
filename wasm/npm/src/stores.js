// In-memory DID resolver and secrets store, and the Wallet loader. They implement the same
// interfaces any host object can (async `resolve`, `getSecret`, `findSecrets`), so they serve as
// examples as much as helpers. The Wallet class is made per entry (`walletClass`), over that
// entry's wasm module: the engine alone, or the SDK.
import { DidCommError, ErrorKind } from './errors.js';

/** Resolves a fixed, editable set of DID documents. */
export class InMemoryDidResolver {
  #docs = new Map();

  /** @param {Iterable<object>} [docs] DID documents */
  constructor(docs = []) {
    for (const doc of docs) this.add(doc);
  }

  /** Add or replace a document (keyed by its `id`). */
  add(doc) {
    if (doc === null || typeof doc !== 'object' || typeof doc.id !== 'string') {
      throw new DidCommError(ErrorKind.IllegalArgument, 'a DID document must be an object with a string id');
    }
    this.#docs.set(doc.id, doc);
    return this;
  }

  /** Remove a document; true if it was there. */
  remove(did) {
    return this.#docs.delete(did);
  }

  /** The DIDs known. */
  dids() {
    return [...this.#docs.keys()];
  }

  /** The documents held. */
  documents() {
    return [...this.#docs.values()];
  }

  async resolve(did) {
    return this.#docs.get(did) ?? null;
  }
}

/** Holds secrets (private keys) in memory, keyed by `kid`. */
export class InMemorySecretsResolver {
  #secrets = new Map();

  /** @param {Iterable<object>} [secrets] `{kid, type, privateKeyJwk | privateKeyMultibase}` */
  constructor(secrets = []) {
    for (const secret of secrets) this.add(secret);
  }

  /** Add or replace a secret. `id` is accepted for `kid`, as in DID documents. */
  add(secret) {
    const kid = secret?.kid ?? secret?.id;
    if (typeof kid !== 'string') {
      throw new DidCommError(ErrorKind.IllegalArgument, 'a secret must be an object with a string kid');
    }
    this.#secrets.set(kid, secret);
    return this;
  }

  /** Remove a secret; true if it was there. */
  remove(kid) {
    return this.#secrets.delete(kid);
  }

  /** The key ids held. */
  kids() {
    return [...this.#secrets.keys()];
  }

  /** The secrets held. */
  secrets() {
    return [...this.#secrets.values()];
  }

  async getSecret(kid) {
    return this.#secrets.get(kid) ?? null;
  }

  async findSecrets(kids) {
    return kids.filter((kid) => this.#secrets.has(kid));
  }
}

/**
 * The Wallet class over one wasm module's `DidComm` and `__parseWallet`.
 * @param {Function} DidComm
 * @param {(json: unknown) => {did_docs: object[], secrets: object[]}} parseWallet
 */
export function walletClass(DidComm, parseWallet) {
  /**
   * DID documents and secrets kept together: the wallet file `{did_docs, secrets}` of the CLI
   * and the shared test vectors. Checked by the core when loaded.
   */
  return class Wallet {
    /** @param {string | object} [json] a wallet file's text or parsed content */
    constructor(json = {}) {
      const { did_docs, secrets } = parseWallet(json);
      this.resolver = new InMemoryDidResolver(did_docs);
      this.secrets = new InMemorySecretsResolver(secrets);
    }

    /** The same as `new Wallet(json)`. */
    static fromJSON(json) {
      return new this(json);
    }

    /** A `DidComm` engine over this wallet's resolver and secrets. */
    didComm(config) {
      return new DidComm(this.resolver, this.secrets, config);
    }
  };
}
