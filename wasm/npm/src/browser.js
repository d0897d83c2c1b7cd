// Browser and bundler entry (ESM). Top-level await fetches and compiles the module, so the API is
// ready as soon as the import resolves. Bundlers see the .wasm through `new URL(..., import.meta.url)`.
import init, { __setErrorClass } from './didcomm_edge.js';
import { DidCommError } from './errors.js';

await init({ module_or_path: new URL('./didcomm_edge_bg.wasm', import.meta.url) });
__setErrorClass(DidCommError);

export * from './api.js';
