// Shared by the tests: the vector folder, identity files, and engines over them.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Wallet } from 'didcomm-edge';

const here = dirname(fileURLToPath(import.meta.url));

/** `testdata/vectors` of the repository, or `$DIDCOMM_VECTORS`. */
export const vectorsDir = process.env.DIDCOMM_VECTORS
  ? resolve(process.env.DIDCOMM_VECTORS)
  : resolve(here, '../../../testdata/vectors');

export function readVectors(relative) {
  return JSON.parse(readFileSync(join(vectorsDir, relative), 'utf8'));
}

/** An identity file by its vector name: `bob` is ids/spec-bob.json, `bob-rust` is ids/rust-bob.json. */
export function walletFile(name) {
  const [who, flavour] = name.split('-');
  const file = flavour === 'rust' ? `ids/rust-${who}.json` : `ids/spec-${name}.json`;
  return readVectors(file);
}

export function wallet(name) {
  return new Wallet(walletFile(name));
}

/** Metadata in the vectors' normalized form (snake_case, encrypted_to sorted). */
export function normalizedMetadata(m) {
  return {
    encrypted: m.encrypted,
    authenticated: m.authenticated,
    non_repudiation: m.nonRepudiation,
    anonymous_sender: m.anonymousSender,
    re_wrapped_in_forward: m.reWrappedInForward,
    encrypted_from: m.encryptedFromKid ?? null,
    encrypted_to: m.encryptedToKids ? [...m.encryptedToKids].sort() : null,
    sign_from: m.signFrom ?? null,
    enc_alg_auth: m.encAlgAuth ?? null,
    enc_alg_anon: m.encAlgAnon ?? null,
    sign_alg: m.signAlg ?? null,
    from_prior_issuer_kid: m.fromPriorIssuerKid ?? null,
  };
}

export function sortedExpected(expected) {
  const e = { ...expected };
  if (Array.isArray(e.encrypted_to)) e.encrypted_to = [...e.encrypted_to].sort();
  return e;
}

export function hex(s) {
  return Uint8Array.from(s.match(/../g).map((b) => parseInt(b, 16)));
}
