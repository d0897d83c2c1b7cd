// Node entry (ESM; the CommonJS build `node.cjs` is bundled from this file). The module is
// compiled synchronously, so the API is ready as soon as the import resolves.
import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import { initSync, __setErrorClass } from './didcomm_edge.js';
import { DidCommError } from './errors.js';

// Randomness comes from Web Crypto's getRandomValues. Node 18 has no global `crypto` (Node 19+
// does); give it the one Node 19+ would have.
if (typeof globalThis.crypto?.getRandomValues !== 'function') {
  Object.defineProperty(globalThis, 'crypto', { value: webcrypto, configurable: true, writable: true });
}

initSync({ module: readFileSync(new URL('./didcomm_edge_bg.wasm', import.meta.url)) });
__setErrorClass(DidCommError);

export * from './api.js';
