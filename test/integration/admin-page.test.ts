import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { buildSchema, parse, validate, type OperationDefinitionNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.ts';
import { VENDOR_FILES } from '../../src/http/admin.plugin.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// The admin page as HTTP serves it (src/http/admin.plugin.ts): strict headers, only the files
// it names, nothing outside them; and every GraphQL document the page sends is valid against
// schema.graphql. test/browser/admin.test.ts drives the page itself in Chromium.

const PAGE_DIR = new URL('../../src/admin/', import.meta.url);
const MODULES = new URL('../../node_modules/', import.meta.url);
const indexHtml = readFileSync(new URL('index.html', PAGE_DIR), 'utf8');
const importMapText = /<script type="importmap">([\s\S]*?)<\/script>/.exec(indexHtml)![1]!;
const importMap = JSON.parse(importMapText) as { imports: Record<string, string> };

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server?.close());

/** A GET with the path sent exactly as written (fetch would resolve `..` before sending). */
function rawGet(path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the page', () => {
  it('is served at /admin and /admin/ with a strict Content-Security-Policy and safe headers', async () => {
    for (const path of ['/admin', '/admin/']) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(await res.text()).toBe(indexHtml);
      const csp = Object.fromEntries(
        res.headers
          .get('content-security-policy')!
          .split(';')
          .map((d) => d.trim().split(/\s+/))
          .map(([name, ...values]) => [name, values]),
      );
      const hash = createHash('sha256').update(importMapText).digest('base64');
      expect(csp).toMatchObject({
        'default-src': ["'self'"],
        // Scripts from Parley itself, and the one inline script, the import map, by its hash: no
        // 'unsafe-inline', so no inline handler or injected script runs.
        'script-src': ["'self'", `'sha256-${hash}'`],
        'style-src': ["'self'"],
        'connect-src': ["'self'"],
        'frame-ancestors': ["'none'"],
        'object-src': ["'none'"],
      });
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('cache-control')).toBe('no-cache');
    }
  });

  it('has no inline script but the import map, and no inline handler or style attribute', () => {
    const scripts = [...indexHtml.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.filter(([, attrs, body]) => body!.trim() !== '' && !attrs!.includes('type="importmap"'))).toEqual([]);
    expect(indexHtml).not.toMatch(/\son\w+=/i);
    expect(indexHtml).not.toMatch(/\sstyle=/i);
  });

  it('serves each of its modules and styles with its content type, and every import it makes resolves to a served file', async () => {
    const names = readdirSync(PAGE_DIR).filter((n) => /\.(js|css)$/.test(n));
    expect(names).toEqual(expect.arrayContaining(['app.js', 'api.js', 'style.css']));
    for (const name of names) {
      const res = await fetch(`${server.url}/admin/${name}`);
      expect(res.status, name).toBe(200);
      expect(res.headers.get('content-type')).toBe(name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      const text = await res.text();
      expect(text).toBe(readFileSync(new URL(name, PAGE_DIR), 'utf8'));
      for (const [, specifier] of text.matchAll(/^import [^'"]*['"]([^'"]+)['"]/gm)) {
        const url = specifier!.startsWith('./') ? `/admin/${specifier!.slice(2)}` : importMap.imports[specifier!];
        expect(url, `${name} imports ${specifier}`).toBeDefined();
        expect((await fetch(`${server.url}${url}`)).status, `${name} imports ${specifier}`).toBe(200);
      }
    }
  });

  it('serves the libraries of the import map from node_modules, as JavaScript and CSS', async () => {
    const served = [...Object.values(importMap.imports), '/admin/vendor/uplot.css'];
    expect(served.sort()).toEqual(Object.keys(VENDOR_FILES).map((name) => `/admin/vendor/${name}`).sort());
    for (const [name, file] of Object.entries(VENDOR_FILES)) {
      const res = await fetch(`${server.url}/admin/vendor/${name}`);
      expect(res.status, name).toBe(200);
      expect(res.headers.get('content-type')).toBe(name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8');
      const body = await res.text();
      expect(body).toBe(readFileSync(new URL(file, MODULES), 'utf8'));
      // ES modules, loadable by the browser straight from the import map.
      if (name.endsWith('.mjs')) expect(body).toMatch(/\bexport\s*(\{|default)/);
    }
  });

  it('answers a revalidation with 304 when the file has not changed', async () => {
    const first = await fetch(`${server.url}/admin/app.js`);
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[\w-]+"$/);
    const again = await fetch(`${server.url}/admin/app.js`, { headers: { 'if-none-match': etag } });
    expect([again.status, await again.text()]).toEqual([304, '']);
    expect((await fetch(`${server.url}/admin/app.js`, { headers: { 'if-none-match': '"other"' } })).status).toBe(200);
  });

  it('serves nothing outside its files: unknown names, other node_modules files and path traversal get 404', async () => {
    const refused = [
      '/admin/nope.js',
      '/admin/vendor/nope.mjs',
      '/admin/vendor/../../package.json',
      '/admin/vendor/..%2F..%2Fpackage.json',
      '/admin/vendor/%2e%2e%2f%2e%2e%2fpackage.json',
      '/admin/vendor/..%5C..%5Cpackage.json',
      '/admin/..%2Fhttp%2Fadmin.plugin.ts',
      '/admin/..%2F..%2F.env',
      '/admin/vendor/preact%2Fpackage.json',
      '/admin/vendor/%2Fetc%2Fpasswd',
      '/admin/%2Fetc%2Fpasswd',
      '/admin/vendor/',
      '/admin/vendor/preact.mjs%00.css',
    ];
    for (const path of refused) {
      const res = await rawGet(path);
      expect(res.status, path).toBe(404);
      expect(res.body, path).not.toMatch(/"name": "parley"|root:|export /);
    }
  });

  it('is not served by the worker role', async () => {
    const worker = await buildApp(server.deps, { api: false });
    try {
      expect((await worker.inject({ method: 'GET', url: '/admin' })).statusCode).toBe(404);
    } finally {
      await worker.close();
    }
  });
});

describe('the page’s GraphQL documents (src/admin/api.js)', () => {
  it('are each valid against schema.graphql, and named as they are keyed', async () => {
    const schema = buildSchema(readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8'));
    // A plain ES module for the browser, loaded here as it is (no types: a computed specifier).
    const apiModule = new URL('../../src/admin/api.js', import.meta.url).href;
    const { DOCUMENTS } = (await import(apiModule)) as { DOCUMENTS: Record<string, string> };
    expect(Object.keys(DOCUMENTS).length).toBeGreaterThan(5);
    for (const [name, text] of Object.entries(DOCUMENTS)) {
      const document = parse(text);
      expect(validate(schema, document).map((e) => e.message), name).toEqual([]);
      const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition');
      expect(operations.map((o) => o.name?.value)).toEqual([name]);
    }
  });
});
