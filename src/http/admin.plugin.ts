import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** The page's own files: plain ES modules, no build step. */
const PAGE_DIR = new URL('../admin/', import.meta.url);
const MODULES = new URL('../../node_modules/', import.meta.url);

/**
 * The only files served under /admin/vendor/, by name → file in node_modules: the ESM build of
 * each library the import map in index.html names. Nothing else in node_modules is reachable.
 */
export const VENDOR_FILES: Readonly<Record<string, string>> = {
  'preact.mjs': 'preact/dist/preact.mjs',
  'preact-hooks.mjs': 'preact/hooks/dist/hooks.mjs',
  'htm.mjs': 'htm/dist/htm.module.js',
  'uplot.mjs': 'uplot/dist/uPlot.esm.js',
  'uplot.css': 'uplot/dist/uPlot.min.css',
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

type Asset = { body: Buffer; type: string; etag: string };

function asset(file: URL): Asset {
  const body = readFileSync(file);
  const type = CONTENT_TYPES[extname(file.pathname)];
  if (!type) throw new Error(`No content type for ${file.pathname}`);
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/**
 * The Content-Security-Policy of the page: everything from Parley's own origin only, the one
 * inline script (the import map) allowed by its hash, no inline handlers or styles, no
 * framing. Styles set through the DOM (Preact's style props, uPlot) are not inline styles.
 */
export function contentSecurityPolicy(indexHtml: string): string {
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(indexHtml)?.[1];
  if (importMap === undefined) throw new Error('admin/index.html has no import map');
  const hash = createHash('sha256').update(importMap).digest('base64');
  return [
    "default-src 'self'",
    `script-src 'self' 'sha256-${hash}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * The operator's dashboard at /admin (src/admin), and its libraries at /admin/vendor/. Every
 * file is read once, at start, into memory: the set of paths served is fixed (a lookup by
 * exact name, so no path can reach outside it) and a missing file stops the start. Responses
 * are `no-cache` with an ETag: a browser revalidates (a 304) and never runs a stale module
 * against a newer page after an upgrade.
 */
export async function adminPlugin(app: FastifyInstance) {
  const page = new Map<string, Asset>();
  for (const name of readdirSync(PAGE_DIR)) {
    if (CONTENT_TYPES[extname(name)]) page.set(name, asset(new URL(name, PAGE_DIR)));
  }
  const vendor = new Map(Object.entries(VENDOR_FILES).map(([name, path]) => [name, asset(new URL(path, MODULES))]));
  const index = page.get('index.html');
  if (!index) throw new Error('admin/index.html is missing');
  const csp = contentSecurityPolicy(index.body.toString('utf8'));

  const send = (req: FastifyRequest, reply: FastifyReply, file: Asset | undefined) => {
    if (!file) return reply.callNotFound();
    reply
      .header('content-security-policy', csp)
      .header('x-content-type-options', 'nosniff')
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer')
      .header('cross-origin-opener-policy', 'same-origin')
      .header('cache-control', 'no-cache')
      .header('etag', file.etag)
      .type(file.type);
    return req.headers['if-none-match'] === file.etag ? reply.status(304).send() : reply.send(file.body);
  };

  app.get('/admin', (req, reply) => send(req, reply, index));
  app.get('/admin/', (req, reply) => send(req, reply, index));
  app.get<{ Params: { name: string } }>('/admin/vendor/:name', (req, reply) => send(req, reply, vendor.get(req.params.name)));
  app.get<{ Params: { name: string } }>('/admin/:name', (req, reply) => send(req, reply, page.get(req.params.name)));
}
