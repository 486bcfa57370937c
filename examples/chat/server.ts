// The example chat's backend: what an app's own server does for Parley. It sets up a demo
// tenant, app and room with the operator token, then serves the page and hands each visitor
// a short-lived user token (and the next one when it runs out). Only that token reaches the
// browser; the operator token and the API key stay here.
//
//   PARLEY_URL=http://localhost:4000 ADMIN_TOKEN=… npx tsx examples/chat/server.ts
//
// `npm run example` starts Parley and this together (examples/chat/main.ts).
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { pathToFileURL } from 'node:url';
import { pageBundle } from './bundle.ts';
import { provisionDemoRoom, type DemoRoom } from './demo-room.ts';
import { parleyApi } from './parley-api.ts';
import { BadInput, createSessions, type Sessions } from './sessions.ts';

export type ExampleOptions = {
  /** Parley's base URL, e.g. http://localhost:4000 (the browser calls it too). */
  parleyUrl?: string;
  adminToken?: string;
  port?: number;
  host?: string;
  /** Short, so that the SDK's token refresh (getToken) is seen working. Parley's minimum is 60. */
  tokenTtlSeconds?: number;
  tenantName?: string;
  appName?: string;
};

export type ExampleServer = { url: string; room: DemoRoom; close(): Promise<void> };

const COOKIE = 'parley_example_session';
const INDEX = new URL('./index.html', import.meta.url);
const MAX_BODY = 4096;
/** A session lasts a day (the demo keeps nothing else about a visitor). */
const SESSION_MAX_AGE_SECONDS = 86_400;

export async function startExample({
  parleyUrl = process.env.PARLEY_URL ?? 'http://localhost:4000',
  adminToken = process.env.ADMIN_TOKEN,
  port = 5173,
  host = '127.0.0.1',
  tokenTtlSeconds = 120,
  tenantName,
  appName,
}: ExampleOptions = {}): Promise<ExampleServer> {
  if (!adminToken) throw new Error('startExample: the operator token is needed (ADMIN_TOKEN) to set up the demo app');
  const graphqlUrl = `${parleyUrl.replace(/\/$/, '')}/graphql`;
  const gql = parleyApi(graphqlUrl);
  const bundle = pageBundle();
  let sessions: Sessions | undefined;
  /** The page's own origins (both spellings of this machine), known once listening. */
  let origins: string[] = [];

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const bad = err instanceof BadInput;
      if (!bad) console.error('example server:', err);
      send(res, bad ? 400 : 500, { error: bad ? err.message : 'Something went wrong; see the server log' });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const route = `${req.method} ${path}`;
    // DNS rebinding: a hostile name resolving to 127.0.0.1 would make this page its own
    // origin. Only the names this server was reached by on purpose are served.
    if (!origins.some((origin) => new URL(origin).host === req.headers.host)) return send(res, 421, { error: 'Unknown host' });
    // A session or a token is handed only to the page itself, never to another site's script
    // (SameSite=Strict covers the cookie; Origin covers joining and older browsers).
    if (req.method === 'POST' && !origins.includes(req.headers.origin ?? '')) return send(res, 403, { error: 'Cross-origin request refused' });
    if (route === 'GET /') return send(res, 200, await readFile(INDEX), 'text/html; charset=utf-8');
    if (route === 'GET /app.js') return send(res, 200, await bundle.build(), 'text/javascript; charset=utf-8');
    if (!sessions) return send(res, 503, { error: 'Setting up the demo room; try again in a moment' });
    if (route === 'POST /session') {
      const session = await sessions.join((await jsonBody(req)).name);
      res.setHeader('set-cookie', `${COOKIE}=${sessions.cookieFor(session.userId)}; Path=/; Max-Age=${SESSION_MAX_AGE_SECONDS}; HttpOnly; SameSite=Strict`);
      return send(res, 200, { ...session, graphqlUrl });
    }
    if (route === 'POST /token') {
      const token = await sessions.refresh(cookieOf(req, COOKIE));
      return token ? send(res, 200, token) : send(res, 401, { error: 'No session: join first' });
    }
    send(res, ['/', '/app.js', '/session', '/token'].includes(path) ? 405 : 404, { error: 'Not here' });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const actualPort = (server.address() as { port: number }).port;
  const url = `http://${host}:${actualPort}`;
  try {
    // Both spellings of this machine, so the page works whichever one the browser was given.
    origins = [...new Set([url, `http://localhost:${actualPort}`, `http://127.0.0.1:${actualPort}`])];
    const room = await provisionDemoRoom(gql, { adminToken, origins, tenantName, appName });
    sessions = createSessions(gql, room, { tokenTtlSeconds });
    return {
      url,
      room,
      async close() {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
        await bundle.dispose();
      },
    };
  } catch (err) {
    server.close();
    await bundle.dispose();
    throw err;
  }
}

function send(res: ServerResponse, status: number, body: unknown, type = 'application/json') {
  const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(payload);
}

async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  if (!req.headers['content-type']?.startsWith('application/json')) throw new BadInput('Send JSON');
  let raw = '';
  for await (const chunk of req) {
    raw += chunk;
    if (raw.length > MAX_BODY) throw new BadInput('Too large');
  }
  try {
    const body: unknown = JSON.parse(raw);
    if (body && typeof body === 'object' && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {
    // falls through to the error below
  }
  throw new BadInput('Send a JSON object');
}

function cookieOf(req: IncomingMessage, name: string) {
  for (const part of req.headers.cookie?.split(';') ?? []) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const example = await startExample({ port: Number(process.env.EXAMPLE_PORT ?? 5173) });
  console.log(`Example chat: ${example.url.replace('127.0.0.1', 'localhost')}  (Parley at ${process.env.PARLEY_URL ?? 'http://localhost:4000'})`);
}
