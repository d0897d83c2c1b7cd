// `npm pack` / `npm publish` run this first: the package must ship a complete dist/ and the
// repository's LICENSE and NOTICE, also from a clean clone.
//
// dist/ is rebuilt (scripts/build-wasm.sh, minutes) unless it is already the build of the
// current sources (scripts/dist-state.mjs). DIDCOMM_EDGE_PREPACK=build forces the build.
import { spawnSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { NPM_DIR, ROOT, upToDate } from './dist-state.mjs';

for (const name of ['LICENSE', 'NOTICE']) copyFileSync(join(ROOT, name), join(NPM_DIR, name));

if (process.env.DIDCOMM_EDGE_PREPACK !== 'build' && upToDate()) {
  console.error('prepack: dist/ is up to date with the sources, not rebuilt');
} else {
  console.error('prepack: building dist/ (scripts/build-wasm.sh)');
  const run = spawnSync(join(ROOT, 'scripts', 'build-wasm.sh'), { stdio: ['ignore', 2, 2] });
  if (run.status !== 0) {
    console.error(`prepack: the build failed (${run.error ?? `exit ${run.status}`})`);
    process.exit(1);
  }
  if (!upToDate()) {
    console.error('prepack: dist/ is still not the build of the sources');
    process.exit(1);
  }
}
