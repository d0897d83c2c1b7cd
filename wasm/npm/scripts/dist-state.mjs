// Whether wasm/npm/dist is the build of the sources as they are now.
//
//   node scripts/dist-state.mjs stamp   record the current inputs and the built files
//                                       (scripts/build-wasm.sh runs it after a build)
//   node scripts/dist-state.mjs check   exit 0 when dist/ is up to date, 1 when not
//
// The inputs are hashed by content (not by modification time, which a checkout resets), so the
// check is the same on every clone. The record lives beside dist/, never inside it (dist/ ships).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const NPM_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
export const ROOT = join(NPM_DIR, '..', '..');
const DIST = join(NPM_DIR, 'dist');
const STAMP = join(NPM_DIR, '.dist-stamp.json');

// Everything the build reads: the core and the wasm crate, the JS sources, the lock files, the
// toolchain pin and the build script itself.
const INPUTS = [
  'Cargo.toml', 'Cargo.lock', 'core/Cargo.toml', 'core/src', 'wasm/Cargo.toml', 'wasm/src', 'wasm/toolchain',
  'wasm/npm/src', 'wasm/npm/index.d.ts', 'wasm/npm/sdk.d.ts', 'wasm/npm/package-lock.json', 'scripts/build-wasm.sh',
];

function files(path) {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).sort().flatMap((name) => files(join(path, name)));
}

export function inputsHash() {
  const hash = createHash('sha256');
  hash.update(`toolchain=${process.env.WASM_TOOLCHAIN ?? ''}\0`);
  for (const input of INPUTS) {
    for (const file of files(join(ROOT, input))) {
      hash.update(`${relative(ROOT, file)}\0`).update(readFileSync(file)).update('\0');
    }
  }
  return hash.digest('hex');
}

function built() {
  return Object.fromEntries(files(DIST).map((f) => [relative(DIST, f), statSync(f).size]));
}

export function upToDate() {
  if (!existsSync(STAMP)) return false;
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(STAMP, 'utf8'));
  } catch {
    return false;
  }
  const now = built();
  return stamp.inputs === inputsHash()
    && Object.keys(stamp.files).length > 0
    && Object.entries(stamp.files).every(([name, size]) => now[name] === size);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const mode = process.argv[2];
  if (mode === 'stamp') {
    writeFileSync(STAMP, `${JSON.stringify({ inputs: inputsHash(), files: built() }, null, 1)}\n`);
  } else if (mode === 'check') {
    process.exit(upToDate() ? 0 : 1);
  } else {
    console.error('usage: node scripts/dist-state.mjs stamp|check');
    process.exit(2);
  }
}
