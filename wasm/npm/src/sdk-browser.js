// Browser and bundler entry of `didcomm-edge/sdk` (ESM), as browser.js for the SDK module.
import init, { __setErrorClass } from './didcomm_edge_sdk.js';
import { DidCommError } from './errors.js';

await init({ module_or_path: new URL('./didcomm_edge_sdk_bg.wasm', import.meta.url) });
__setErrorClass(DidCommError);

export * from './sdk-api.js';
