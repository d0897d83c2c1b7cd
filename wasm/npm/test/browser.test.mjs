// The package in headless Chromium (Debian's `chromium`, driven by playwright-core): a page
// served on 127.0.0.1 packs and unpacks, and the test reads what the page wrote. Twice: as a
// plain <script type="module"> (import map, no build step), and bundled by esbuild through the
// package's "browser" export condition.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync, copyFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, extname, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { vectorsDir } from './helpers.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const dist = join(pkgDir, 'dist');
const pageDir = join(pkgDir, 'test', 'browser');
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json', '.wasm': 'application/wasm' };

let server;
let origin;
let context;
let work;

/** Serve a file from one of a few roots; nothing outside them. */
function route(pathname) {
  const data = { alice: 'ids/spec-alice.json', bob: 'ids/spec-bob.json', 'appendix-c': 'didcomm-spec/appendix-c-messages.json' };
  if (pathname === '/' || pathname === '/index.html') return join(pageDir, 'index.html');
  if (pathname === '/app.js') return join(pageDir, 'app.js');
  if (pathname === '/sdk.html' || pathname === '/sdk-app.js') return join(pageDir, pathname.slice(1));
  // The same page with the esbuild bundle in place of the import map.
  if (pathname === '/bundled.html') return join(work, 'bundled.html');
  const [, root, rest] = pathname.match(/^\/(pkg|data|bundle)\/(.+)$/) ?? [];
  if (!root || normalize(rest).startsWith('..')) return null;
  if (root === 'pkg') return join(dist, normalize(rest));
  if (root === 'bundle') return join(work, normalize(rest));
  const name = rest.replace(/\.json$/, '');
  return data[name] ? join(vectorsDir, data[name]) : null;
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run \`make setup-wasm\` (apt-get install chromium)`);
  work = mkdtempSync(join(tmpdir(), 'didcomm-edge-browser-'));
  // The bundled variant: esbuild resolves 'didcomm-edge' with the browser condition; the .wasm
  // goes beside the bundle, where `new URL(..., import.meta.url)` looks for it.
  execFileSync(join(pkgDir, 'node_modules', '.bin', 'esbuild'), [
    join(pageDir, 'app.js'), '--bundle', '--format=esm', '--platform=browser', '--target=es2022',
    `--outfile=${join(work, 'app.js')}`, '--log-level=warning',
  ], { cwd: pkgDir });
  copyFileSync(join(dist, 'didcomm_edge_bg.wasm'), join(work, 'didcomm_edge_bg.wasm'));
  writeFileSync(join(work, 'bundled.html'), readFileSync(join(pageDir, 'index.html'), 'utf8')
    .replace(/<script type="importmap">.*<\/script>\n/, '')
    .replace('src="/app.js"', 'src="/bundle/app.js"'));

  server = createServer((req, res) => {
    // The did:web document of the server's own origin, for the SDK page's did:web through fetch.
    if (req.url === '/.well-known/did.json') {
      const did = `did:web:127.0.0.1%3A${server.address().port}`;
      res.writeHead(200, { 'content-type': 'application/did+json' }).end(JSON.stringify({ id: did }));
      return;
    }
    const file = route(new URL(req.url, 'http://x').pathname);
    if (!file || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${server.address().port}`;

  context = await chromium.launchPersistentContext(join(work, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60_000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
});

after(async () => {
  await context?.close();
  server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function runPage(path) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  try {
    await page.goto(origin + path);
    const result = page.locator('#result:not([data-status="running"])');
    await result.waitFor({ timeout: 60_000 });
    const status = await result.getAttribute('data-status');
    const text = await result.textContent();
    assert.equal(status, 'done', `page failed: ${text} ${errors.join('; ')}`);
    return JSON.parse(text);
  } finally {
    await page.close();
  }
}

function check(out) {
  assert.match(out.userAgent, /Chrom/);
  assert.deepEqual(out.authcrypt, { same: true, from: 'did:example:alice#key-x25519-1', recipients: 3 });
  assert.deepEqual(out.anoncrypt, { same: true, alg: 'ECDH-ES+A256KW/A256GCM' });
  assert.deepEqual(out.signedAuthAnon, { same: true, signAlg: 'ES256', anonymous: true });
  assert.deepEqual(out.signed, { same: true, alg: 'ES256K' });
  assert.equal(out.vectors, 10);
  assert.deepEqual(out.error, { isDidCommError: true, kind: 'decryption_failed' });
}

test('plain <script type="module"> page packs and unpacks in headless Chromium', { timeout: 120_000 }, async () => {
  check(await runPage('/'));
});

test('esbuild bundle (browser condition) packs and unpacks in headless Chromium', { timeout: 120_000 }, async () => {
  check(await runPage('/bundled.html'));
});

test('didcomm-edge/sdk page: did:peer identities, route and unwrap, registry, did:web through the browser fetch', { timeout: 120_000 }, async () => {
  const out = await runPage('/sdk.html');
  assert.deepEqual(out, {
    routed: { uri: 'https://mediator.example.org', hops: 1, next: true },
    received: { content: 'sdk in the browser', authenticated: true },
    web: true,
    error: { isDidCommError: true, kind: 'malformed' },
  });
});
