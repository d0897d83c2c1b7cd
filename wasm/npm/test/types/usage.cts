// CommonJS consumers (require) get the same declarations (index.d.cts).
import didcomm = require('didcomm-edge');

async function run(): Promise<string> {
  const dc: didcomm.DidComm = new didcomm.Wallet({ did_docs: [], secrets: [] }).didComm();
  const message: didcomm.Message = didcomm.createMessage('https://example.org/t');
  const { message: back, metadata } = await dc.unpack(dc.packPlaintext(message));
  const kind: didcomm.ErrorKind = didcomm.ErrorKind.Expired;
  return `${back.id} ${metadata.encrypted} ${kind}`;
}

export = run;
