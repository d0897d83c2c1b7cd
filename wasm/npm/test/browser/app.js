// Runs in the browser (plain ES module through an import map, or bundled by esbuild): packs and
// unpacks with the package and writes what happened into #result for the test to read.
import { Wallet, createMessage, DidCommError } from 'didcomm-edge';

const result = document.getElementById('result');
const getJson = (path) => fetch(path).then((r) => r.json());

async function run() {
  const [aliceFile, bobFile, specVectors] = await Promise.all([
    getJson('/data/alice.json'), getJson('/data/bob.json'), getJson('/data/appendix-c.json'),
  ]);
  const alice = new Wallet(aliceFile).didComm();
  const bob = new Wallet(bobFile).didComm();
  const message = createMessage('https://didcomm.org/basicmessage/2.0/message',
    { content: 'hello from the browser' }, { from: 'did:example:alice', to: ['did:example:bob'] });
  const same = (m) => JSON.stringify(m) === JSON.stringify(message);
  const out = { userAgent: navigator.userAgent };

  const auth = await alice.packEncrypted(message, 'did:example:bob', { from: 'did:example:alice' });
  const authBack = await bob.unpack(auth.packed);
  out.authcrypt = { same: same(authBack.message), from: authBack.metadata.encryptedFromKid, recipients: auth.metadata.toKids.length };

  const anon = await alice.packEncrypted(message, 'did:example:bob#key-p384-1', { encAlgAnon: 'A256GCM' });
  const anonBack = await bob.unpack(anon.packed);
  out.anoncrypt = { same: same(anonBack.message), alg: anonBack.metadata.encAlgAnon };

  const protectedSender = await alice.packEncrypted(message, 'did:example:bob', {
    from: 'did:example:alice#key-p521-1', signBy: 'did:example:alice#key-2', protectSender: true, encAlgAnon: 'XC20P',
  });
  const psBack = await bob.unpack(protectedSender.packed);
  out.signedAuthAnon = { same: same(psBack.message), signAlg: psBack.metadata.signAlg, anonymous: psBack.metadata.anonymousSender };

  const signed = await alice.packSigned(message, 'did:example:alice#key-3');
  out.signed = { same: same((await bob.unpack(signed.packed)).message), alg: signed.metadata.signAlg };

  out.vectors = 0;
  for (const v of specVectors.vectors) {
    const { message: m } = await bob.unpack(v.packed);
    if (JSON.stringify(m) === JSON.stringify(v.expected.message)) out.vectors++;
  }

  const tampered = JSON.parse(auth.packed);
  tampered.tag = tampered.tag.startsWith('A') ? `B${tampered.tag.slice(1)}` : `A${tampered.tag.slice(1)}`;
  try {
    await bob.unpack(tampered);
    out.error = 'no error';
  } catch (err) {
    out.error = { isDidCommError: err instanceof DidCommError, kind: err.kind };
  }
  return out;
}

run().then(
  (out) => { result.textContent = JSON.stringify(out); result.dataset.status = 'done'; },
  (err) => { result.textContent = String(err?.stack ?? err); result.dataset.status = 'error'; },
);
