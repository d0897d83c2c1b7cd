// CommonJS consumers (require) of `didcomm-edge/sdk` get the same declarations (sdk.d.cts).
import sdk = require('didcomm-edge/sdk');

async function run(): Promise<string> {
  const alice: sdk.Identity = sdk.generateIdentity('peer2');
  const dc: sdk.DidComm = new sdk.Wallet().addIdentity(alice).didComm();
  const route: sdk.Route = await dc.resolveRoute(alice.did).catch(() => ({ uri: '', serviceId: '', accept: [], hops: [] }));
  const kind: sdk.ErrorKind = sdk.ErrorKind.Unsupported;
  return `${route.uri} ${kind} ${sdk.protocolMessageTypes().length}`;
}

export = run;
