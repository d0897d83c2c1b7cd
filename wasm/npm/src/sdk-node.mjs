// Node entry of `didcomm-edge/sdk` (ESM; `sdk-node.cjs` is bundled from this file): the SDK
// module, compiled synchronously.
import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import { initSync, __setErrorClass } from './didcomm_edge_sdk.js';
import { DidCommError } from './errors.js';

// As in node.mjs: Node 18 has no global Web Crypto.
if (typeof globalThis.crypto?.getRandomValues !== 'function') {
  Object.defineProperty(globalThis, 'crypto', { value: webcrypto, configurable: true, writable: true });
}

initSync({ module: readFileSync(new URL('./didcomm_edge_sdk_bg.wasm', import.meta.url)) });
__setErrorClass(DidCommError);

export * from './sdk-api.js';
