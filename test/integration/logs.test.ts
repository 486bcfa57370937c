import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { ok } from '../helpers/client.ts';
import { startProcess, type ParleyProcess } from '../helpers/process.ts';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { storeEnv, testStore } from '../helpers/server.ts';
import { connectWs, disposeAllWs, eventually, subscribeWs } from '../helpers/ws.ts';

// Structured logs (issue 7, item 1), read from a real process's stdout at LOG_LEVEL=info: one
// JSON line per HTTP request and per socket lifecycle event, with the request id (incoming
// x-request-id or traceparent), tenant, app, operation and outcome; and no credential anywhere.

const Send = graphql(`mutation ObsLogSend($input: SendMessageInput!) { sendMessage(input: $input) { seq } }`);
const Conversation = graphql(`query ObsLogConversation($id: ID!) { conversation(id: $id) { id } }`);
const Endpoints = graphql(`query ObsLogEndpoints { webhookEndpoints { id } }`);
const Events = graphql(`
  subscription ObsLogEvents($conversationId: ID!) { conversationEvents(conversationId: $conversationId) { seq } }
`);

const ADMIN_TOKEN = 'obs-logs-admin-token-0123456789abcdef';
/** A fresh store's first start (migrations, the queue's schema) is slow on a busy machine. */
const STARTUP_MS = 90_000;
const dirs: string[] = [];

async function env(extra: Record<string, string> = {}) {
  const base = { ADMIN_TOKEN, LOG_LEVEL: 'info', SHUTDOWN_DRAIN_MS: '0', ...extra };
  if (testStore() === 'postgres') return { ...base, ...storeEnv() };
  const dir = await mkdtemp(join(tmpdir(), 'parley-logs-'));
  dirs.push(dir);
  return { ...base, DATA_DIR: dir };
}
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

type Line = Record<string, unknown> & { msg: string; level: number };
const linesOf = (output: string): Line[] =>
  output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Line);

/** One POST /graphql, as a client with its own headers would send it. */
async function post(url: string, document: Parameters<typeof print>[0], variables: unknown, headers: Record<string, string>) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query: print(document), variables }),
  });
  return { status: res.status, body: (await res.json()) as { errors?: { extensions: { code: string } }[] } };
}

describe('a real process at LOG_LEVEL=info', () => {
  let parley: ParleyProcess;
  let output = '';
  let app: SeededApp;
  let alice: SeededUser;
  let bob: SeededUser;
  let conversationId: string;
  let accessToken: string;
  const badKey = 'pk_obsdoesnotexist.sk_obs-wrong-secret-0123456789';
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';

  beforeAll(async () => {
    parley = await startProcess(await env(), { timeoutMs: STARTUP_MS });
    const target = { graphqlUrl: `${parley.url}/graphql`, adminToken: ADMIN_TOKEN };
    app = await seedApp(target);
    [alice, bob] = (await seedUsers(target, app, 2)) as [SeededUser, SeededUser];
    conversationId = await seedGroup(target, alice, [bob]);

    // A socket with a token, a subscription that receives one event, then closed by the client.
    const ws = connectWs(target, { token: bob.token });
    await ws.connected;
    const sub = subscribeWs(ws, Events, { conversationId });
    await eventually(() => expect(parley.output()).toContain('subscription started'));

    // An app server's request with its API key; a user's with a token and an x-request-id;
    // one with only a traceparent; an error; failed logins (a wrong key, a wrong client secret).
    expect((await post(parley.url, Endpoints, {}, { 'x-api-key': app.apiKey, 'x-request-id': 'obs-app-1' })).body.errors).toBeUndefined();
    expect((await fetch(`${parley.url}/healthz`, { headers: { 'x-request-id': 'obs-probe' } })).status).toBe(200);
    const sent = await post(parley.url, Send, { input: { conversationId, body: 'logged' } }, { authorization: `Bearer ${alice.token}`, 'x-request-id': 'obs-user-1' });
    expect(sent.body.errors).toBeUndefined();
    await post(parley.url, Conversation, { id: conversationId }, { authorization: `Bearer ${alice.token}`, traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    await post(parley.url, Conversation, { id: 'cnv_missing' }, { authorization: `Bearer ${alice.token}`, 'x-request-id': 'obs-missing' });
    const refused = await post(parley.url, Conversation, { id: conversationId }, { 'x-api-key': badKey, 'x-request-id': 'obs-bad-key' });
    expect(refused.status).toBe(401);
    const [keyId, keySecret] = app.apiKey.split('.') as [string, string];
    const token = await fetch(`${parley.url}/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: keyId, client_secret: keySecret }),
    });
    accessToken = ((await token.json()) as { access_token: string }).access_token;
    const wrongSecret = await fetch(`${parley.url}/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: keyId, client_secret: `${keySecret}x` }),
    });
    expect(wrongSecret.status).toBe(401);
    expect((await post(parley.url, Endpoints, {}, { authorization: `Bearer ${accessToken}`, 'x-request-id': 'obs-access-token' })).body.errors).toBeUndefined();

    await eventually(() => expect(sub.data).toHaveLength(1));
    await ws.dispose();
    // A socket whose connection_init carries a bad token.
    const rejected = connectWs(target, { token: `${alice.token}x` });
    await eventually(() => expect(rejected.closed?.code).toBe(4401));
    await disposeAllWs();
    await eventually(() => expect(parley.output().match(/"socket closed"/g)).toHaveLength(2));

    expect(await parley.stop()).toBe(0);
    output = parley.output();
  }, 3 * STARTUP_MS);

  it('every line on stdout is JSON', () => {
    const stdout = output.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('(node') && !line.includes('--trace-warnings'));
    for (const line of stdout) expect(() => JSON.parse(line), line).not.toThrow();
  });

  it('one line per HTTP request, when it is answered, with requestId, route, status, duration, tenant, app, operation and outcome', () => {
    const requests = linesOf(output).filter((l) => l.msg === 'request');
    expect(linesOf(output).filter((l) => l.msg === 'incoming request' || l.msg === 'request completed')).toEqual([]);
    const byId = (id: string) => requests.filter((l) => l.requestId === id);
    expect(byId('obs-user-1')).toHaveLength(1);
    expect(byId('obs-user-1')[0]).toMatchObject({
      level: 30,
      method: 'POST',
      route: '/graphql',
      status: 200,
      caller: 'user',
      tenantId: app.tenantId,
      appId: app.appId,
      operationName: 'ObsLogSend',
      operationType: 'mutation',
      field: 'sendMessage',
      outcome: 'ok',
    });
    expect(byId('obs-user-1')[0]!.durationMs).toEqual(expect.any(Number));
    expect(byId('obs-app-1')[0]).toMatchObject({ caller: 'app', tenantId: app.tenantId, appId: app.appId, operationName: 'ObsLogEndpoints', operationType: 'query', field: 'webhookEndpoints', outcome: 'ok' });
    expect(byId('obs-access-token')[0]).toMatchObject({ caller: 'app', tenantId: app.tenantId, outcome: 'ok' });
    expect(byId('obs-missing')[0]).toMatchObject({ status: 200, field: 'conversation', outcome: 'NOT_FOUND' });
    expect(byId('obs-bad-key')[0]).toMatchObject({ status: 401, outcome: 'UNAUTHENTICATED' });
    // A traceparent without x-request-id: its trace id is the request id.
    expect(byId(traceId)[0]).toMatchObject({ traceId, operationName: 'ObsLogConversation', outcome: 'ok' });
    expect(requests.find((l) => l.route === '/v1/auth/token' && l.status === 401)).toBeDefined();
    expect(byId('obs-probe')).toEqual([]); // a probe: debug
  });

  it('socket lifecycle: opened, accepted (or refused), subscription started and ended, closed, with the socket’s requestId, tenant and app', () => {
    const lines = linesOf(output);
    const accepted = lines.find((l) => l.msg === 'connection accepted')!;
    expect(accepted).toMatchObject({ caller: 'user', tenantId: app.tenantId, appId: app.appId });
    const socket = lines.filter((l) => l.requestId === accepted.requestId);
    expect(String(accepted.requestId)).toMatch(/^ws-/);
    expect(socket.map((l) => l.msg)).toEqual(['socket opened', 'connection accepted', 'subscription started', 'subscription ended', 'socket closed']);
    expect(socket[2]).toMatchObject({ operationName: 'ObsLogEvents', field: 'conversationEvents', tenantId: app.tenantId });
    expect(socket[3]).toMatchObject({ field: 'conversationEvents', events: 1, outcome: 'ok', durationMs: expect.any(Number) });
    expect(socket[4]).toMatchObject({ code: expect.any(Number), durationMs: expect.any(Number), subscriptions: 1, sent: 1 });

    const refused = lines.find((l) => l.msg === 'connection refused')!;
    expect(refused).toMatchObject({ code: 4401 });
    expect(lines.filter((l) => l.requestId === refused.requestId).map((l) => l.msg)).toEqual(['socket opened', 'connection refused', 'socket closed']);
  });

  it('no credential appears anywhere in the output: admin token, API key and its secret, user and access tokens, failed attempts', () => {
    const [, keySecret] = app.apiKey.split('.') as [string, string];
    const secrets = [ADMIN_TOKEN, app.apiKey, keySecret, `${keySecret}x`, alice.token, bob.token, `${alice.token}x`, accessToken, badKey, 'sk_obs-wrong-secret'];
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThan(10);
      expect(output.includes(secret), `found ${secret.slice(0, 12)}… in the logs`).toBe(false);
    }
    // Nor any part of a JWT signature.
    for (const jwt of [alice.token, bob.token, accessToken]) expect(output).not.toContain(jwt.split('.')[2]!);
  });
});

describe('LOG_LEVEL', () => {
  it('health probes and scrapes are logged at debug: absent at info (above), present at debug', async () => {
    const parley = await startProcess(await env({ LOG_LEVEL: 'debug' }), { timeoutMs: STARTUP_MS });
    try {
      await fetch(`${parley.url}/healthz`, { headers: { 'x-request-id': 'obs-probe' } });
      await eventually(() => expect(linesOf(parley.output()).find((l) => l.requestId === 'obs-probe')).toMatchObject({ level: 20, msg: 'request', route: '/healthz', status: 200 }));
    } finally {
      await parley.stop();
    }
  }, 2 * STARTUP_MS);
});
