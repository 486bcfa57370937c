import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOCUMENT_LIMITS } from '../../src/http/yoga.ts';
import { seedApp, seedUsers, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// Limits on what one request may ask for, beyond depth, tokens and aliases (hostile-input.test.ts):
// directives, cost, batching, and introspection and GraphiQL by environment.

type Body = { data?: unknown; errors?: { message: string; extensions: { code: string } }[] };

let server: TestServer;
let alice: SeededUser;
beforeAll(async () => {
  server = await startServer();
  [alice] = (await seedUsers(server, await seedApp(server), 1)) as [SeededUser];
});
afterAll(() => server?.close());

async function post(target: TestServer, body: unknown, token = alice.token) {
  const res = await fetch(target.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Body };
}
const refusal = (body: Body) => {
  expect(body.data ?? null).toBeNull();
  expect(body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
  return body.errors![0]!.message;
};

describe('document limits', () => {
  it(`more than ${DOCUMENT_LIMITS.maxDirectives} directives → BAD_USER_INPUT, not executed; ${DOCUMENT_LIMITS.maxDirectives} run`, async () => {
    const doc = (n: number) => `query AbuseDirectives { ${Array.from({ length: n }, (_, i) => `a${i}: me @include(if: true) { id }`).join(' ')} }`;
    const atLimit = await post(server, { query: doc(DOCUMENT_LIMITS.maxDirectives) });
    expect(Object.keys(atLimit.body.data as object)).toHaveLength(DOCUMENT_LIMITS.maxDirectives);
    expect(refusal((await post(server, { query: doc(DOCUMENT_LIMITS.maxDirectives + 1) })).body)).toMatch(/directive/i);
  });

  it(`a document within depth, tokens and aliases but costing more than ${DOCUMENT_LIMITS.maxCost} → BAD_USER_INPUT, not executed`, async () => {
    // Ten levels of nesting, then many fields: each costs 1.5^10 ≈ 58 (scalar 1 × 1.5 a level).
    const doc = (fields: number) => `query AbuseCost { me { ${'... on User { '.repeat(9)}${'id '.repeat(fields)}${'} '.repeat(9)} } }`;
    const cheap = await post(server, { query: doc(10) });
    expect(cheap.body).toEqual({ data: { me: { id: alice.id } } });
    expect(refusal((await post(server, { query: doc(300) })).body)).toMatch(/cost/i);
  });

  it('a batch (a JSON array of operations) → HTTP 400, nothing executed', async () => {
    const res = await post(server, [{ query: 'query AbuseBatchA { me { id } }' }, { query: 'query AbuseBatchB { me { id } }' }]);
    expect(res.status).toBe(400);
    expect(res.body.data ?? null).toBeNull();
    expect(res.body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
  });
});

describe('introspection and GraphiQL', () => {
  const INTROSPECT = { query: 'query AbuseIntrospect { __schema { queryType { name } } }' };
  const graphiql = (target: TestServer) => fetch(target.graphqlUrl, { headers: { accept: 'text/html' } }).then((r) => r.headers.get('content-type') ?? '');

  it('are on by default outside production', async () => {
    expect((await post(server, INTROSPECT)).body).toEqual({ data: { __schema: { queryType: { name: 'Query' } } } });
    expect(await graphiql(server)).toMatch(/text\/html/);
  });

  it('are off by default in production (NODE_ENV=production), and each can be turned on', async () => {
    const production = await startServer({ NODE_ENV: 'production' });
    const opened = await startServer({ NODE_ENV: 'production', GRAPHQL_INTROSPECTION: 'true', GRAPHIQL: 'true' });
    try {
      const [user] = (await seedUsers(production, await seedApp(production), 1)) as [SeededUser];
      refusal((await post(production, INTROSPECT, user.token)).body);
      expect(await graphiql(production)).not.toMatch(/text\/html/);
      const [other] = (await seedUsers(opened, await seedApp(opened), 1)) as [SeededUser];
      expect((await post(opened, INTROSPECT, other.token)).body).toEqual({ data: { __schema: { queryType: { name: 'Query' } } } });
      expect(await graphiql(opened)).toMatch(/text\/html/);
    } finally {
      await production.close();
      await opened.close();
    }
  });
});
