// The packed tarball as bundler users get it. One `npm pack`, then:
//  - @arethetypeswrong/cli on the tarball: TypeScript's node16 resolution (NodeNext, from ESM and
//    from CJS) and bundler resolution, for "." and "./sdk"; any problem fails the test.
//  - a fresh project outside the repository with the tarball installed offline, two tiny apps
//    (one on 'didcomm-edge', one on 'didcomm-edge/sdk') that authcrypt and unpack, built once by
//    Vite and once by esbuild, each output served on 127.0.0.1 and loaded in headless Chromium;
//    and the same pages through Vite's dev server (its dependency pre-bundling included).
// Run after `make wasm` (prepack then reuses dist/): seconds, not minutes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const NPM_DIR = fileURLToPath(new URL('..', import.meta.url));
const ROOT = join(NPM_DIR, '..', '..');
const BIN = join(NPM_DIR, 'node_modules', '.bin');
const IDS = join(ROOT, 'testdata', 'vectors', 'ids');
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };
const PAGE_TIMEOUT = 60_000;

let work;
let project;
let tarball;
let context;
const servers = [];
let viteDev;

const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

// The two apps. Each writes its result (or its error) into #result for the test to read.
const REPORT = `
const result = document.getElementById('result');
run().then(
  (out) => { result.textContent = JSON.stringify(out); result.dataset.status = 'done'; },
  (err) => { result.textContent = String(err?.stack ?? err); result.dataset.status = 'failed'; },
);
`;

// Main entry: authcrypt from the spec's Alice to Bob (the repository's test identities).
const MAIN_APP = `import { Wallet, createMessage, DidCommError } from 'didcomm-edge';
import { alice as aliceFile, bob as bobFile } from './ids.js';

async function run() {
  const alice = new Wallet(aliceFile).didComm();
  const bob = new Wallet(bobFile).didComm();
  const message = createMessage('https://didcomm.org/basicmessage/2.0/message', { content: 'bundled' },
    { from: 'did:example:alice', to: ['did:example:bob'] });
  const { packed } = await alice.packEncrypted(message, 'did:example:bob', { from: 'did:example:alice' });
  const { message: received, metadata } = await bob.unpack(packed);
  return {
    entry: 'didcomm-edge',
    content: received.body.content,
    same: received.id === message.id,
    authenticated: metadata.authenticated,
    from: metadata.encryptedFromKid,
    errorClass: typeof DidCommError === 'function',
  };
}
${REPORT}`;

// SDK entry: two generated did:peer:2 identities, authcrypt between them.
const SDK_APP = `import { Wallet, generateIdentity, buildProtocolMessage, parseProtocolMessage } from 'didcomm-edge/sdk';

async function run() {
  const alice = generateIdentity('peer2');
  const bob = generateIdentity('peer2');
  const aliceDc = new Wallet().addIdentity(alice).didComm();
  const bobDc = new Wallet().addIdentity(bob).didComm();
  const message = buildProtocolMessage('https://didcomm.org/basicmessage/2.0/message', { content: 'bundled sdk' },
    { from: alice.did, to: [bob.did] });
  const { packed } = await aliceDc.packEncrypted(message, bob.did, { from: alice.did });
  const { message: received, metadata } = await bobDc.unpack(packed);
  return {
    entry: 'didcomm-edge/sdk',
    content: parseProtocolMessage(received).fields.content,
    same: received.id === message.id,
    authenticated: metadata.authenticated,
    fromSender: metadata.encryptedFromKid.startsWith(alice.did + '#'),
  };
}
${REPORT}`;

const html = (script) => `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>didcomm-edge bundled</title><link rel="icon" href="data:,">
<script type="module" src="${script}"></script></head>
<body><pre id="result" data-status="running"></pre></body>
</html>
`;

// Vite: the two pages as the inputs of one build; nothing else configured.
const VITE_CONFIG = `export default {
  logLevel: 'warn',
  build: {
    outDir: 'out-vite',
    emptyOutDir: true,
    rolldownOptions: { input: { main: 'main.html', sdk: 'sdk.html' } },
  },
};
`;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run \`make setup-wasm\` (apt-get install chromium)`);
  work = realpathSync(mkdtempSync(join(tmpdir(), 'didcomm-edge-bundlers-')));
  const [packed] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], NPM_DIR));
  tarball = join(work, packed.filename);

  project = join(work, 'consumer');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' })}\n`);
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], project);
  const ids = ['alice', 'bob'].map((who) => `export const ${who} = ${readFileSync(join(IDS, `spec-${who}.json`), 'utf8').trim()};`);
  writeFileSync(join(project, 'ids.js'), `${ids.join('\n')}\n`);
  writeFileSync(join(project, 'main.js'), MAIN_APP);
  writeFileSync(join(project, 'sdk.js'), SDK_APP);
  writeFileSync(join(project, 'main.html'), html('./main.js'));
  writeFileSync(join(project, 'sdk.html'), html('./sdk.js'));
  writeFileSync(join(project, 'vite.config.mjs'), VITE_CONFIG);

  context = await chromium.launchPersistentContext(join(work, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    timeout: PAGE_TIMEOUT,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
});

after(async () => {
  await context?.close();
  await viteDev?.close();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Serve `dir` (nothing outside it) on 127.0.0.1. */
async function serve(dir) {
  const server = createServer((req, res) => {
    const rel = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^\/+/, '');
    const file = join(dir, rel);
    if (rel.startsWith('..') || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  servers.push(server);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${server.address().port}`;
}

/**
 * Load a page; its #result once it is no longer "running", and the .wasm responses it got. Fails
 * on a page error, a console error (a failed load among them) or a timeout.
 */
async function runPage(url) {
  const page = await context.newPage();
  const errors = [];
  const wasm = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('response', (r) => {
    const { pathname } = new URL(r.url());
    if (pathname.endsWith('.wasm')) wasm.push({ path: pathname, status: r.status(), type: r.headers()['content-type'] });
  });
  try {
    await page.goto(url, { timeout: PAGE_TIMEOUT });
    const result = page.locator('#result:not([data-status="running"])');
    await result.waitFor({ timeout: PAGE_TIMEOUT });
    const status = await result.getAttribute('data-status');
    const text = await result.textContent();
    assert.equal(status, 'done', `page failed: ${text}`);
    assert.deepEqual(errors, [], 'errors in the page');
    return { out: JSON.parse(text), wasm };
  } finally {
    await page.close();
  }
}

const MAIN_RESULT = { entry: 'didcomm-edge', content: 'bundled', same: true, authenticated: true, from: 'did:example:alice#key-x25519-1', errorClass: true };
const SDK_RESULT = { entry: 'didcomm-edge/sdk', content: 'bundled sdk', same: true, authenticated: true, fromSender: true };

/** Both pages at `origin`; the path of the one .wasm each fetched (200, application/wasm). */
async function checkPages(origin) {
  const paths = [];
  for (const [page, expected] of [['main.html', MAIN_RESULT], ['sdk.html', SDK_RESULT]]) {
    const { out, wasm } = await runPage(`${origin}/${page}`);
    assert.deepEqual(out, expected);
    assert.equal(wasm.length, 1, `${page}: ${JSON.stringify(wasm)}`);
    assert.deepEqual({ ...wasm[0], path: undefined }, { path: undefined, status: 200, type: 'application/wasm' });
    paths.push(wasm[0].path);
  }
  return paths;
}

test('attw: node16 (from ESM and from CJS) and bundler resolution of "." and "./sdk" find no problem', () => {
  let out;
  try {
    out = run(join(BIN, 'attw'), [tarball, '--profile', 'node16', '--entrypoints', '.', './sdk', '--format', 'json', '--no-color']);
  } catch (err) {
    assert.fail(`attw reported problems (exit ${err.status}):\n${err.stdout}${err.stderr}`);
  }
  // `problems`: attw's findings under the profile, grouped by kind (the exit status says the same).
  const { analysis, problems } = JSON.parse(out);
  assert.deepEqual(problems, {});
  assert.deepEqual(Object.keys(analysis.entrypoints).sort(), ['.', './sdk']);
  // Each resolution ends at the declaration file for its module format.
  const expected = {
    '.': { 'node16-cjs': 'index.d.cts', 'node16-esm': 'index.d.ts', bundler: 'index.d.ts' },
    './sdk': { 'node16-cjs': 'sdk.d.cts', 'node16-esm': 'sdk.d.ts', bundler: 'sdk.d.ts' },
  };
  for (const [name, kinds] of Object.entries(expected)) {
    for (const [kind, file] of Object.entries(kinds)) {
      const resolution = analysis.entrypoints[name].resolutions[kind]?.resolution;
      assert.equal(resolution?.fileName, `/node_modules/didcomm-edge/${file}`, `${name} under ${kind}`);
      assert.ok(resolution.isTypeScript, `${name} under ${kind}: not a declaration file`);
    }
  }
});

test('vite build of the fresh project: both entries pack and unpack in headless Chromium', { timeout: 180_000 }, async () => {
  run(process.execPath, [join(BIN, 'vite'), 'build', '--config', join(project, 'vite.config.mjs')], project);
  const out = join(project, 'out-vite');
  // Vite found the .wasm through `new URL(..., import.meta.url)` and emitted it as an asset.
  const emitted = readdirSync(join(out, 'assets')).filter((f) => f.endsWith('.wasm'));
  assert.equal(emitted.length, 2, `emitted: ${emitted.join(', ')}`);
  const [main, sdk] = await checkPages(await serve(out));
  assert.match(main, /^\/assets\/didcomm_edge_bg-[\w-]+\.wasm$/);
  assert.match(sdk, /^\/assets\/didcomm_edge_sdk_bg-[\w-]+\.wasm$/);
});

test('esbuild bundle of the fresh project (--platform=browser): both entries pack and unpack in headless Chromium', { timeout: 180_000 }, async () => {
  const out = join(project, 'out-esbuild');
  mkdirSync(out);
  run(join(BIN, 'esbuild'), ['main.js', 'sdk.js', '--bundle', '--format=esm', '--platform=browser', '--target=es2022',
    `--outdir=${out}`, '--log-level=warning'], project);
  // esbuild leaves `new URL('./x.wasm', import.meta.url)` as it is: the .wasm goes beside the bundle.
  assert.ok(readFileSync(join(out, 'main.js'), 'utf8').includes('new URL("./didcomm_edge_bg.wasm", import.meta.url)'));
  assert.ok(readFileSync(join(out, 'sdk.js'), 'utf8').includes('new URL("./didcomm_edge_sdk_bg.wasm", import.meta.url)'));
  const dist = join(project, 'node_modules', 'didcomm-edge', 'dist');
  for (const name of ['didcomm_edge_bg.wasm', 'didcomm_edge_sdk_bg.wasm']) copyFileSync(join(dist, name), join(out, name));
  writeFileSync(join(out, 'main.html'), html('./main.js'));
  writeFileSync(join(out, 'sdk.html'), html('./sdk.js'));
  assert.deepEqual(await checkPages(await serve(out)), ['/didcomm_edge_bg.wasm', '/didcomm_edge_sdk_bg.wasm']);
});

test('vite dev server (default optimizeDeps): both entries pack and unpack in headless Chromium', { timeout: 180_000 }, async () => {
  const { createServer: createViteServer } = await import('vite');
  viteDev = await createViteServer({
    root: project,
    configFile: join(project, 'vite.config.mjs'),
    server: { host: '127.0.0.1', port: 0, hmr: false, watch: null },
  });
  await viteDev.listen();
  const [main, sdk] = await checkPages(`http://127.0.0.1:${viteDev.httpServer.address().port}`);
  // The optimizer pre-bundled both entries into node_modules/.vite/deps and rewrote the .wasm URL
  // to the installed file, so nothing needs excluding from optimizeDeps.
  const { optimized } = JSON.parse(readFileSync(join(project, 'node_modules', '.vite', 'deps', '_metadata.json'), 'utf8'));
  assert.deepEqual(Object.keys(optimized).sort(), ['didcomm-edge', 'didcomm-edge/sdk']);
  assert.match(optimized['didcomm-edge'].src, /\/didcomm-edge\/dist\/browser\.js$/);
  assert.match(optimized['didcomm-edge/sdk'].src, /\/didcomm-edge\/dist\/sdk-browser\.js$/);
  assert.equal(main, '/node_modules/didcomm-edge/dist/didcomm_edge_bg.wasm');
  assert.equal(sdk, '/node_modules/didcomm-edge/dist/didcomm_edge_sdk_bg.wasm');
});

test('esbuild refuses the default iife format: the entries use top-level await', () => {
  assert.throws(
    () => run(join(BIN, 'esbuild'), ['main.js', '--bundle', '--platform=browser', `--outdir=${join(work, 'out-iife')}`, '--log-level=error'], project),
    (err) => /Top-level await is currently not supported with the "iife" output format/.test(err.stderr),
  );
});
