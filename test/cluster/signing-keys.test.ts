import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { execute, ok } from '../helpers/client.ts';
import { createDatabase } from '../helpers/databases.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { seedApp, seedUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// A rotation handled by one node reaches the others over Redis at once: they sign with the
// new key, and a key retired NOW stops verifying everywhere. (Without the bus, each node
// re-reads the keys within its refresh interval: test/unit/keyring.test.ts.) Rotating changes
// every server's keys, so this file has a database of its own.

const Rotate = graphql(`
  mutation KeysClusterRotate($input: RotateSigningKeyInput) {
    rotateSigningKey(input: $input) { current { kid } }
  }
`);
const Me = graphql(`
  query KeysClusterMe {
    me { id }
  }
`);

let redis: Awaited<ReturnType<typeof startRedis>>;
let nodes: [TestServer, TestServer];
let database: Awaited<ReturnType<typeof createDatabase>>;

beforeAll(async () => {
  redis = await startRedis();
  database = await createDatabase(inject('adminDatabaseUrl'), 'parley_keys_cluster');
  const shared = { REDIS_URL: redis.url, DATABASE_URL: database.url, ADMIN_TOKEN: `shared-admin-${Date.now()}-token` };
  nodes = [await startServer(shared), await startServer(shared)];
});
afterAll(async () => {
  for (const node of nodes ?? []) await node.close();
  await redis?.stop();
  await database?.drop();
});

const kidOf = (token: string) => decodeProtectedHeader(token).kid!;
const status = async (node: TestServer, token: string) => (await execute(node.graphqlUrl, Me, {}, { token })).status;

describe('signing-key rotation across nodes', () => {
  it('a rotation on one node: the other signs with the new key, and stops accepting a key retired NOW', async () => {
    const app = await seedApp(nodes[0]);
    const before = await seedUser(nodes[1], app);
    expect(await status(nodes[1], before.token)).toBe(200);

    const routine = (await ok(nodes[0].graphqlUrl, Rotate, {}, { token: nodes[0].adminToken })).rotateSigningKey.current.kid;
    await expect.poll(async () => kidOf((await seedUser(nodes[1], app)).token)).toBe(routine);
    expect(await status(nodes[1], before.token)).toBe(200);

    const leaked = (await ok(nodes[0].graphqlUrl, Rotate, { input: { retirePrevious: 'NOW' } }, { token: nodes[0].adminToken })).rotateSigningKey.current.kid;
    await expect.poll(() => status(nodes[1], before.token)).toBe(401);
    const after = await seedUser(nodes[1], app);
    expect(kidOf(after.token)).toBe(leaked);
    expect(await status(nodes[0], after.token)).toBe(200);
  });
});
