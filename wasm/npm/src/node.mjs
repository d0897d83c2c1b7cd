// Node entry (ESM; the CommonJS build `node.cjs` is bundled from this file). The module is
// compiled synchronously, so the API is ready as soon as the import resolves.
import { readFileSync } from 'node:fs';
import { initSync, __setErrorClass } from './didcomm_edge.js';
import { DidCommError } from './errors.js';

initSync({ module: readFileSync(new URL('./didcomm_edge_bg.wasm', import.meta.url)) });
__setErrorClass(DidCommError);

export * from './api.js';
