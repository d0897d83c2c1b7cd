// The public API: everything the package exports, whatever the entry point. Names from the
// wasm module are listed one by one: its exports starting with `__` are internal.
export { DidComm, createMessage, receivedEnding } from './didcomm_edge.js';
export { DidCommError, ErrorKind } from './errors.js';
export { InMemoryDidResolver, InMemorySecretsResolver, Wallet } from './stores.js';
