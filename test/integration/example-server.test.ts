import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { execute } from '../helpers/client.ts';
import { storeEnv, testStore } from '../helpers/server.ts';

// `npm run example` (examples/chat/main.ts): Parley and the example chat's backend in one
// process. It serves the page and its bundled script, and gives visitors user tokens (and
// nothing else) for one demo room, set up with the operator token and found again on restart.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PARLEY_VARIABLES = new Set(['DATABASE_URL', 'DATA_DIR', 'REDIS_URL', 'ADMIN_TOKEN', 'SECRET_KEY', 'PORT', 'HOST', 'NODE_ENV', 'PARLEY_URL', 'EXAMPLE_PORT']);
const ADMIN_TOKEN = 'example-test-admin-token-0123456789';

const ExampleRoom = graphql(`
  query ExampleRoom($id: ID!) {
    me { id displayName }
    conversation(id: $id) { id kind title members { role user { id displayName } } }
  }
`);

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function storeVariables() {
  if (testStore() === 'postgres') return storeEnv();
  const dir = await mkdtemp(join(tmpdir(), 'parley-example-'));
  dirs.push(dir);
  return { DATA_DIR: dir };
}

type Example = { pageUrl: string; parleyUrl: string; output: () => string; stop(): Promise<number | null> };

/** Runs `npm run example`'s entry as its own process and waits for the URLs it prints. */
function runExample(env: Record<string, string>): Promise<Example> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !PARLEY_VARIABLES.has(name)));
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/chat/main.ts'], {
    cwd: ROOT,
    env: { ...inherited, PORT: '0', HOST: '127.0.0.1', EXAMPLE_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the example did not start:\n${output}`));
    }, 120_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const page = /Example chat: (\S+)/.exec(output);
      const parley = /Parley: (\S+)\/graphql/.exec(output);
      if (page && parley) {
        clearTimeout(timer);
        // The page is printed as localhost; Node may try ::1 first, where nothing listens.
        resolve({ pageUrl: page[1]!.replace('localhost', '127.0.0.1'), parleyUrl: parley[1]!, output: () => output, stop });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the example exited with ${code}:\n${output}`));
    });
  });
}

/** A POST as the page makes it: from its own origin. */
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: new URL(url).origin, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

/** The status of a request carrying the Host header given (fetch will not send another one). */
const statusWithHost = (url: string, host: string) =>
  new Promise<number | undefined>((resolve, reject) =>
    request(url, { headers: { host } }, (res) => (res.resume(), resolve(res.statusCode))).on('error', reject).end(),
  );

describe('npm run example', () => {
  // Two starts of a fresh embedded store (migrations) on a busy machine take a while.
  it('serves the page and its script, joins visitors to one room with their own token, refreshes it, and finds the room again on restart', { timeout: 300_000 }, async () => {
    const env = { ADMIN_TOKEN, ...(await storeVariables()) };
    const first = await runExample(env);
    let firstRoom: string;
    try {
      const page = await fetch(`${first.pageUrl}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await page.text()).toContain('<script type="module" src="/app.js">');
      const script = await fetch(`${first.pageUrl}/app.js`);
      expect(script.status).toBe(200);
      expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
      const js = await script.text();
      // The page's own code, the SDK and graphql-ws, in one file the browser can load.
      expect(js).toContain('createParleyClient');
      expect(js).toContain('graphql-transport-ws');
      expect(js).not.toMatch(/^import /m);

      const joined = await post(`${first.pageUrl}/session`, { name: ' Ada ' });
      expect(joined.status).toBe(200);
      const session = (await joined.json()) as Record<string, string>;
      expect(Object.keys(session).sort()).toEqual(['conversationId', 'displayName', 'expiresAt', 'graphqlUrl', 'token', 'userId']);
      expect(session.graphqlUrl).toBe(`${first.parleyUrl}/graphql`);
      expect(session.displayName).toBe('Ada');
      // The token is Ada's own, and she is a member of the room (with the host, its owner).
      const origin = new URL(first.pageUrl).origin;
      const room = await execute(session.graphqlUrl!, ExampleRoom, { id: session.conversationId! }, { token: session.token! });
      expect(room.errors).toBeUndefined();
      expect(room.data!.me).toEqual({ id: session.userId, displayName: 'Ada' });
      expect(room.data!.conversation!.members.map((m) => [m.user.displayName, m.role])).toEqual([
        ['Host', 'OWNER'],
        ['Ada', 'MEMBER'],
      ]);
      // The app allows the page's origin, and only it.
      const fromPage = await fetch(session.graphqlUrl!, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${session.token}`, origin },
        body: JSON.stringify({ query: '{ me { id } }' }),
      });
      expect([fromPage.status, fromPage.headers.get('access-control-allow-origin')]).toEqual([200, origin]);
      const fromElsewhere = await fetch(session.graphqlUrl!, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${session.token}`, origin: 'http://evil.example' },
        body: JSON.stringify({ query: '{ me { id } }' }),
      });
      expect(fromElsewhere.status).toBe(403);

      // Joining again under the same name is coming back: the same user, still one membership.
      const again = (await (await post(`${first.pageUrl}/session`, { name: 'Ada' })).json()) as Record<string, string>;
      expect(again.userId).toBe(session.userId);

      // /token: the next token for the cookie's user; nothing without (or with a forged) cookie.
      const cookie = joined.headers.get('set-cookie')!;
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Strict/);
      expect(cookie).toMatch(/Max-Age=\d+/);
      const sid = cookie.split(';')[0]!;
      const refreshed = await post(`${first.pageUrl}/token`, {}, { cookie: sid });
      expect(refreshed.status).toBe(200);
      const next = (await refreshed.json()) as { token: string; expiresAt: string };
      expect(Object.keys(next).sort()).toEqual(['expiresAt', 'token']);
      const asNext = await execute(session.graphqlUrl!, ExampleRoom, { id: session.conversationId! }, { token: next.token });
      expect(asNext.data?.me.id).toBe(session.userId);
      expect((await post(`${first.pageUrl}/token`, {})).status).toBe(401);
      const [name, value] = sid.split('=') as [string, string];
      const forged = `${name}=${value.replace(/^[^.]+/, room.data!.conversation!.members[0]!.user.id)}`;
      expect((await post(`${first.pageUrl}/token`, {}, { cookie: forged })).status).toBe(401);

      // Bad input gets a clear 4xx, never a crash.
      for (const bad of [{}, { name: '' }, { name: 'x'.repeat(41) }, { name: 'a\u0000b' }, { name: 42 }]) {
        const res = await post(`${first.pageUrl}/session`, bad);
        expect([res.status, await res.json()]).toEqual([400, { error: 'name: 1 to 40 printable characters' }]);
      }
      expect((await post(`${first.pageUrl}/session`, 'not json')).status).toBe(400);
      expect((await post(`${first.pageUrl}/session`, 'x'.repeat(10_000))).status).toBe(400);
      expect((await fetch(`${first.pageUrl}/session`)).status).toBe(405);
      expect((await fetch(`${first.pageUrl}/nope`)).status).toBe(404);

      // Another site's script gets no session and no token: POSTs must come from the page's origin.
      for (const origin of [{ origin: 'http://evil.example' }, { origin: '' }]) {
        const joinedElsewhere = await post(`${first.pageUrl}/session`, { name: 'Eve' }, origin);
        expect([joinedElsewhere.status, joinedElsewhere.headers.get('set-cookie')]).toEqual([403, null]);
        expect((await post(`${first.pageUrl}/token`, {}, { ...origin, cookie: sid })).status).toBe(403);
      }
      // DNS rebinding: a name that is not this machine's is not served at all.
      const port = new URL(first.pageUrl).port;
      expect(await statusWithHost(`${first.pageUrl}/`, `rebound.example:${port}`)).toBe(421);
      expect(await statusWithHost(`${first.pageUrl}/`, `localhost:${port}`)).toBe(200);
      expect(first.output()).not.toContain(ADMIN_TOKEN);
      firstRoom = session.conversationId!;
    } finally {
      expect(await first.stop()).toBe(0);
    }

    // A restart on the same page port finds the same tenant, app and room.
    const second = await runExample({ ...env, EXAMPLE_PORT: new URL(first.pageUrl).port });
    try {
      const session = (await (await post(`${second.pageUrl}/session`, { name: 'Ada' })).json()) as Record<string, string>;
      expect(session.conversationId).toBe(firstRoom);
    } finally {
      expect(await second.stop()).toBe(0);
    }
  });
});
