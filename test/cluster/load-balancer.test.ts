import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { execute } from '../helpers/client.ts';
import { createDatabase } from '../helpers/databases.ts';
import { freePort, startNginx, type Nginx } from '../helpers/nginx.ts';
import { startProcess, type ParleyProcess } from '../helpers/process.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { seedApp, seedGroup, seedUsers, type SeededUser } from '../helpers/seed.ts';
import { connectWs, disposeAllWs, eventually, rawConnect, subscribeWs, type WsSubscription } from '../helpers/ws.ts';

// docker-compose.yml's cluster on one machine: deploy/nginx.conf in front of two API nodes
// (separate processes) and a worker, on one PostgreSQL and one Redis. Clients talk only to
// nginx, over HTTP and WebSocket; when a node shuts down, its subscribers reconnect through
// nginx, land on the other node, resume with afterSeq and miss nothing.

const LbSend = graphql(`
  mutation LbSend($input: SendMessageInput!) {
    sendMessage(input: $input) { seq }
  }
`);
const LbEvents = graphql(`
  subscription LbEvents($conversationId: ID!, $afterSeq: Int) {
    conversationEvents(conversationId: $conversationId, afterSeq: $afterSeq) { seq }
  }
`);

type Events = WsSubscription<{ conversationEvents: { seq: number | null } }>;
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const seqsOf = (subs: Events[]) => subs.flatMap((sub) => sub.data.map((d) => d.conversationEvents.seq));

/** The JSON lines a process logged (pino), skipping anything else it printed. */
const logLines = (p: ParleyProcess) =>
  p
    .output()
    .split('\n')
    .flatMap((line): Record<string, unknown>[] => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
/** The socket ids (the X-Request-Id of the upgrade request) of the sockets a node accepted. */
const socketsOpened = (p: ParleyProcess) => logLines(p).filter((l) => l.msg === 'socket opened').map((l) => String(l.requestId));
/** nginx's $request_id: what nginx sends as X-Request-Id when the client sent none. */
const NGINX_REQUEST_ID = /^[0-9a-f]{32}$/;

const adminToken = `lb-admin-${randomBytes(12).toString('hex')}`;
let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
let database: Awaited<ReturnType<typeof createDatabase>> | undefined;
let api: ParleyProcess[] = [];
let worker: ParleyProcess | undefined;
let nginx: Nginx | undefined;
/** What the tests talk to: nginx, never a node. */
let lb: { url: string; graphqlUrl: string; adminToken: string };

beforeAll(async () => {
  redis = await startRedis();
  database = await createDatabase(inject('adminDatabaseUrl'), 'parley_lb');
  const env = {
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    ADMIN_TOKEN: adminToken,
    SECRET_KEY: `lb-secret-${randomBytes(16).toString('hex')}`,
  };
  // The three start at once on an empty database: migrations take turns behind their lock.
  const started = await Promise.allSettled([
    startProcess({ ...env, ROLE: 'api' }, { timeoutMs: 60_000 }),
    startProcess({ ...env, ROLE: 'api' }, { timeoutMs: 60_000 }),
    startProcess({ ...env, ROLE: 'worker' }, { timeoutMs: 60_000 }),
  ]);
  const [first, second, third] = started.map((s) => (s.status === 'fulfilled' ? s.value : undefined));
  api = [first, second].filter((p) => p !== undefined);
  worker = third;
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  nginx = await startNginx([api[0]!.url.replace('http://', ''), api[1]!.url.replace('http://', '')]);
  lb = { url: nginx.url, graphqlUrl: `${nginx.url}/graphql`, adminToken };
}, 120_000);

afterAll(async () => {
  await disposeAllWs();
  await nginx?.stop();
  for (const p of [...api, worker]) await p?.stop();
  await redis?.stop();
  await database?.drop();
});

describe('nginx in front of two API nodes (deploy/nginx.conf)', () => {
  it('passes /healthz, /readyz (database and bus), the JWKS and GraphQL over HTTP to the nodes', async () => {
    expect((await fetch(`${lb.url}/healthz`)).status).toBe(200);
    // /metrics stays on the internal network: nginx does not pass it on (each node serves it).
    expect((await fetch(`${lb.url}/metrics`)).status).toBe(404);
    expect((await fetch(`${api[0]!.url}/metrics`)).status).toBe(200);
    const ready = await fetch(`${lb.url}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready', checks: { database: 'ok', bus: 'ok', migrations: 'ok' } }]);
    const jwks = (await (await fetch(`${lb.url}/.well-known/jwks.json`)).json()) as { keys: unknown[] };
    expect(jwks.keys.length).toBeGreaterThan(0);
    const typename = await fetch(lb.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect([typename.status, await typename.json()]).toEqual([200, { data: { __typename: 'Query' } }]);
  });

  it('keeps a client’s X-Request-Id and gives one to a request that has none', async () => {
    const given = await fetch(`${lb.url}/healthz`, { headers: { 'x-request-id': 'lb-given-request-id' } });
    expect(given.headers.get('x-request-id')).toBe('lb-given-request-id');
    // Parley echoes what it got; without nginx's header it would make a UUID of its own.
    const made = await fetch(`${lb.url}/healthz`);
    expect(made.headers.get('x-request-id')).toMatch(NGINX_REQUEST_ID);
  });

  it('upgrades /graphql to a WebSocket with the graphql-transport-ws subprotocol', async () => {
    const app = await seedApp(lb);
    const [user] = (await seedUsers(lb, app, 1)) as [SeededUser];
    const raw = await rawConnect(lb, { token: user.token }); // resolves on connection_ack
    expect(raw.socket.protocol).toBe('graphql-transport-ws');
    raw.socket.close();
  });

  it('passes a request whose connection a node refused to the other node, a POST too (it never reached one)', async () => {
    // A second nginx, in front of a port nothing listens on and node 1.
    const dead = await freePort();
    const live = api[1]!.url.replace('http://', '');
    const other = await startNginx([`127.0.0.1:${dead}`, live]);
    try {
      const app = await seedApp({ graphqlUrl: `${other.url}/graphql`, adminToken }); // POSTs
      expect(app.apiKey).toBeTruthy();
      for (let i = 0; i < 2; i++) expect((await fetch(`${other.url}/readyz`)).status).toBe(200); // GETs
      // The first request for the dead port went to node 1 after all: nothing failed.
      expect(other.output()).toMatch(new RegExp(`"POST /graphql HTTP/1.1" 200 .* upstream=127.0.0.1:${dead}, ${live} upstream_status=502, 200 `));
      expect(other.output()).not.toMatch(/" 50\d /);
    } finally {
      await other.stop();
    }
  });

  it('subscribers on both nodes get every event once, in order; when a node shuts down, its subscribers reconnect through nginx to the other and resume with afterSeq, while messages keep coming', async () => {
    const app = await seedApp(lb);
    const [sender, ...readers] = (await seedUsers(lb, app, 7)) as [SeededUser, ...SeededUser[]];
    const conversationId = await seedGroup(lb, sender, readers);
    const before = api.map((p) => socketsOpened(p).length);

    // One socket per reader, one after another: least_conn alternates between the nodes.
    const chains: Events[][] = [];
    for (const reader of readers) {
      const ws = connectWs(lb, { token: reader.token });
      await ws.connected;
      chains.push([subscribeWs(ws, LbEvents, { conversationId, afterSeq: 0 })]);
    }
    const onNode = api.map((p, i) => socketsOpened(p).slice(before[i]));
    expect(onNode[0]!.length + onNode[1]!.length).toBe(readers.length);
    expect(onNode[0]!.length).toBeGreaterThan(0);
    expect(onNode[1]!.length).toBeGreaterThan(0);
    // The upgrade carried nginx's X-Request-Id (Parley would name the socket ws-<uuid> itself).
    for (const id of onNode.flat()) expect(id).toMatch(NGINX_REQUEST_ID);

    // Sends through nginx, one after another. A send that fails (the node it reached went
    // away) is retried with the same idempotency key, as a client would: never a duplicate.
    let sent = 0;
    const send = async () => {
      const n = sent + 1;
      for (let attempt = 0; ; attempt++) {
        const input = { conversationId, body: `m${n}`, idempotencyKey: `lb-${n}` };
        const res = await execute(lb.graphqlUrl, LbSend, { input }, { token: sender.token }).catch((err: unknown) => ({ data: null, errors: [err] }));
        if (res.data?.sendMessage) {
          expect(res.data.sendMessage.seq).toBe(n);
          sent = n;
          return;
        }
        if (attempt >= 20) throw new Error(`message ${n} could not be sent: ${JSON.stringify(res.errors)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    for (let i = 0; i < 10; i++) await send();
    for (const chain of chains) await eventually(() => expect(seqsOf(chain)).toEqual(range(1, 10)));

    // Keep sending while node 0 shuts down (SIGTERM) and its subscribers move.
    let sending = true;
    let sendFailed: unknown;
    const sender$ = (async () => {
      while (sending) await send();
    })().catch((err: unknown) => (sendFailed = err));
    const [leaving, staying] = api as [ParleyProcess, ParleyProcess];
    expect(await leaving.stop('SIGTERM')).toBe(0);

    // Exactly the sockets node 0 held are closed, with 1012; those on node 1 stay open.
    await eventually(() => expect(chains.filter((chain) => chain[0]!.ended)).toHaveLength(onNode[0]!.length));
    const moved = chains.filter((chain) => chain[0]!.ended);
    for (const chain of moved) expect(chain[0]!.closed?.code).toBe(1012);

    const reopenedBefore = socketsOpened(staying).length;
    for (const chain of moved) {
      const reader = readers[chains.indexOf(chain)]!;
      const afterSeq = seqsOf(chain).at(-1) ?? 0;
      const ws = connectWs(lb, { token: reader.token });
      await ws.connected;
      chain.push(subscribeWs(ws, LbEvents, { conversationId, afterSeq }));
    }
    // They all landed on the node that is left.
    expect(socketsOpened(staying).length - reopenedBefore).toBe(moved.length);

    const resumedAt = sent;
    await eventually(() => {
      expect(sendFailed).toBeUndefined();
      expect(sent).toBeGreaterThan(resumedAt + 10);
    }, 20_000);
    sending = false;
    await sender$;
    expect(sendFailed).toBeUndefined();
    expect((await fetch(`${lb.url}/readyz`)).status).toBe(200);

    for (const chain of chains) {
      await eventually(() => expect(seqsOf(chain)).toEqual(range(1, sent)), 20_000);
      for (const sub of chain) expect(sub.errors).toEqual([]);
      expect(chain.at(-1)!.ended).toBe(false);
    }
  }, 90_000);
});
