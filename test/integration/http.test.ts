import { serverAudits } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedApp, seedGroup, seedUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server?.close());

// The graphql-http package's audit suite: every MUST and SHOULD of the GraphQL-over-HTTP
// specification, including application/graphql-response+json, run against the real server.
describe('GraphQL over HTTP (graphql-http audits)', () => {
  for (const audit of serverAudits({ url: () => server.graphqlUrl })) {
    it(audit.name, async () => {
      const result = await audit.fn();
      expect(result.status === 'ok' ? 'ok' : `${result.status}: ${result.reason}`).toBe('ok');
    });
  }
});

describe('health, readiness and keys', () => {
  it('/healthz answers 200 while the process is alive', async () => {
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('/readyz is 200 with the store reachable, 503 naming it when not', async () => {
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok', bus: 'in-process', migrations: 'ok' } });

    // A second server whose store goes away under it: its readiness must say so.
    const doomed = await startServer();
    try {
      const ping = doomed.deps.db.ping;
      doomed.deps.db.ping = () => Promise.reject(new Error('connection refused'));
      const res = await fetch(`${doomed.url}/readyz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: 'not ready', checks: { database: 'unreachable', bus: 'in-process', migrations: 'ok' } });
      doomed.deps.db.ping = ping;
      expect((await fetch(`${doomed.url}/readyz`)).status).toBe(200);
    } finally {
      await doomed.close();
    }
  });

  it('/.well-known/jwks.json serves public Ed25519 keys only, each with a kid', async () => {
    const res = await fetch(`${server.url}/.well-known/jwks.json`);
    expect(res.status).toBe(200);
    const { keys } = (await res.json()) as { keys: Record<string, string>[] };
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      expect(key.kid).toMatch(/^key_/);
      expect(key).not.toHaveProperty('d'); // the private part
    }
  });
});

describe('subscriptions are WebSocket only', () => {
  // Over HTTP (server-sent events, or a plain POST) a subscription would escape every socket
  // limit and live revocation: it is refused before it subscribes, and nothing streams.
  it.each([
    ['server-sent events', 'text/event-stream'],
    ['a JSON POST', 'application/graphql-response+json'],
  ])('a subscription over %s is BAD_USER_INPUT, and the response ends', async (_name, accept) => {
    const app = await seedApp(server);
    const user = await seedUser(server, app);
    const conversationId = await seedGroup(server, user, [await seedUser(server, app)]);
    const res = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept, authorization: `Bearer ${user.token}` },
      body: JSON.stringify({ query: `subscription { conversationEvents(conversationId: "${conversationId}", afterSeq: 0) { seq } }` }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text(); // the whole body: a stream that stayed open would time out here
    expect(text).toContain('BAD_USER_INPUT');
    expect(text).toContain('Subscriptions are served over WebSocket only');
    expect(text).not.toContain('"seq"');
  });
});
