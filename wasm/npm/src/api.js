// The public API: everything the package exports, whatever the entry point. Names from the
// wasm module are listed one by one: its exports starting with `__` are internal.
import { DidComm, __parseWallet } from './didcomm_edge.js';
import { walletClass } from './stores.js';

export { DidComm, createMessage, receivedEnding } from './didcomm_edge.js';
export { DidCommError, ErrorKind } from './errors.js';
export { InMemoryDidResolver, InMemorySecretsResolver } from './stores.js';
export const Wallet = walletClass(DidComm, __parseWallet);
