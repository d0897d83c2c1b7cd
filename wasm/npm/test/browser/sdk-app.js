// `didcomm-edge/sdk` in the browser: identities whose did:peer documents resolve built in, a
// route through a mediator identity, the protocol registry, and did:web through the browser's
// own `fetch` (the test server serves the document on 127.0.0.1).
import { Wallet, generateIdentity, buildProtocolMessage, parseProtocolMessage, DidCommError } from 'didcomm-edge/sdk';

const result = document.getElementById('result');

async function run() {
  const mediator = generateIdentity('peer2', { uri: 'https://mediator.example.org' });
  const alice = generateIdentity('peer4');
  const bob = generateIdentity('peer2', { uri: mediator.did });
  const aliceDc = new Wallet().addIdentity(alice).didComm({ allowLoopbackHttp: true });
  const message = buildProtocolMessage('https://didcomm.org/basicmessage/2.0/message', { content: 'sdk in the browser' },
    { from: alice.did, to: [bob.did] });
  const { packed } = await aliceDc.packEncrypted(message, bob.did, { from: alice.did });
  const routed = await aliceDc.route(packed, bob.did);
  const { forward } = await new Wallet().addIdentity(mediator).didComm().unwrapForward(routed.message);
  const received = await new Wallet().addIdentity(bob).didComm().unpack(forward.messages[0]);
  const parsed = parseProtocolMessage(received.message);
  const webDid = `did:web:127.0.0.1%3A${location.port}`;
  const web = await aliceDc.resolve(webDid);
  let error;
  try {
    await aliceDc.resolve('did:peer:2.Ez6L!!!');
  } catch (e) {
    error = { isDidCommError: e instanceof DidCommError, kind: e.kind };
  }
  return {
    routed: { uri: routed.uri, hops: routed.hops.length, next: forward.next === bob.did },
    received: { content: parsed.fields.content, authenticated: received.metadata.authenticated },
    web: web.id === webDid,
    error,
  };
}

run().then(
  (out) => { result.textContent = JSON.stringify(out); result.dataset.status = 'done'; },
  (e) => { result.textContent = `${e?.kind ?? ''} ${e?.message ?? e}`; result.dataset.status = 'failed'; },
);
