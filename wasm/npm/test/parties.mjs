// Fresh identities for the round-trip and interop tests, with keys made by node:crypto (an
// independent implementation) on every curve: a DID document in the form every library reads
// (verificationMethod + references, JsonWebKey2020) and the matching secrets.
import { generateKeyPairSync } from 'node:crypto';

export const KA_CURVES = ['X25519', 'P-256', 'P-384', 'P-521', 'secp256k1'];
export const SIGN_CURVES = ['Ed25519', 'P-256', 'secp256k1'];
export const SIGN_ALG = { Ed25519: 'EdDSA', 'P-256': 'ES256', secp256k1: 'ES256K' };

function jwkPair(crv) {
  const { privateKey } =
    crv === 'X25519' || crv === 'Ed25519'
      ? generateKeyPairSync(crv.toLowerCase())
      : generateKeyPairSync('ec', { namedCurve: crv });
  const d = privateKey.export({ format: 'jwk' });
  const { d: _secret, ...pub } = d;
  return { privateJwk: d, publicJwk: pub };
}

const slug = (crv) => crv.toLowerCase().replace('-', '');

/** A party `did:example:<name>` with one key agreement key per curve and one signing key per curve. */
export function makeParty(name, { ka = KA_CURVES, sign = SIGN_CURVES } = {}) {
  const did = `did:example:${name}`;
  const doc = { id: did, verificationMethod: [], authentication: [], keyAgreement: [], service: [] };
  const secrets = [];
  const add = (crv, purpose, relationship) => {
    const kid = `${did}#${purpose}-${slug(crv)}`;
    const { privateJwk, publicJwk } = jwkPair(crv);
    doc.verificationMethod.push({ id: kid, type: 'JsonWebKey2020', controller: did, publicKeyJwk: publicJwk });
    doc[relationship].push(kid);
    secrets.push({ kid, type: 'JsonWebKey2020', privateKeyJwk: privateJwk });
    return kid;
  };
  const kaKids = Object.fromEntries(ka.map((crv) => [crv, add(crv, 'ka', 'keyAgreement')]));
  const signKids = Object.fromEntries(sign.map((crv) => [crv, add(crv, 'sign', 'authentication')]));
  return { did, doc, secrets, kaKids, signKids };
}

/** A wallet file holding `self`'s secrets and every party's document. */
export function walletOf(self, ...others) {
  return { did_docs: [self.doc, ...others.map((o) => o.doc)], secrets: self.secrets };
}
