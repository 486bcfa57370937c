import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { ok } from '../helpers/client.ts';
import { startProcess, type ParleyProcess } from '../helpers/process.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { createUsageStore } from '../../src/modules/usage/usage.store.ts';
import { seedApp, seedGroup, seedUsers, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { connectWs, disposeAllWs, eventually } from '../helpers/ws.ts';

// Live socket counts across nodes (usage, issue 7): each node publishes its counts to Redis;
// every node sums them, and a node that dies (kill -9: nothing of its shutdown runs) drops out
// once its counts expire (three samples).

const ClusterUsage = graphql(`
  query UsageCluster($tenantId: ID) { usage(tenantId: $tenantId) { currentSockets totals { peakSockets } apps { currentSockets } } }
`);
const FixSend = graphql(`mutation UsageFixClusterSend($input: SendMessageInput!) { sendMessage(input: $input) { id } }`);
const ClusterLive = graphql(`query UsageClusterLive { liveConnections { total tenants { tenantId sockets } } }`);

const SAMPLE_MS = 200;
let redis: Awaited<ReturnType<typeof startRedis>>;
let local: TestServer;
let remote: ParleyProcess | undefined;

beforeAll(async () => {
  redis = await startRedis();
  local = await startServer({ REDIS_URL: redis.url, USAGE_SAMPLE_MS: String(SAMPLE_MS) });
  // The same database, Redis and operator token, in a process of its own (to kill for real).
  remote = await startProcess({ ...local.env, LOG_LEVEL: 'info', ROLE: 'api' }, { timeoutMs: 60_000 });
});
afterEach(() => disposeAllWs());
afterAll(async () => {
  await remote?.stop('SIGKILL');
  await local?.close();
  await redis?.stop();
});

describe('socket counts across nodes', () => {
  it('sums the sockets of every node, and drops a node that stopped', async () => {
    const app = await seedApp(local);
    const [alice, bob] = (await seedUsers(local, app, 2)) as [SeededUser, SeededUser];
    const remoteServer = { graphqlUrl: `${remote!.url}/graphql` };
    const sockets = [
      connectWs(local, { token: alice.token }),
      connectWs(remoteServer, { token: alice.token }),
      connectWs(remoteServer, { token: bob.token }),
    ];
    await Promise.all(sockets.map((s) => s.connected));
    const usageOn = async (graphqlUrl: string) => (await ok(graphqlUrl, ClusterUsage, { tenantId: app.tenantId }, { token: local.adminToken })).usage;
    const liveOn = async (graphqlUrl: string) =>
      (await ok(graphqlUrl, ClusterLive, {}, { token: local.adminToken })).liveConnections.tenants.find((t) => t.tenantId === app.tenantId)?.sockets;

    // Each node sees all three: its own live, the other's as last published.
    for (const url of [local.graphqlUrl, remoteServer.graphqlUrl]) {
      await eventually(async () => {
        const usage = await usageOn(url);
        expect([usage.currentSockets, usage.apps[0]!.currentSockets]).toEqual([3, 3]);
        expect(await liveOn(url)).toBe(3);
      });
    }
    await eventually(async () => expect((await usageOn(local.graphqlUrl)).totals.peakSockets).toBe(3));

    await remote!.stop('SIGKILL');
    remote = undefined;
    await eventually(async () => {
      expect((await usageOn(local.graphqlUrl)).currentSockets).toBe(1);
      expect(await liveOn(local.graphqlUrl)).toBe(1);
    });
    expect((await usageOn(local.graphqlUrl)).totals.peakSockets).toBe(3); // the hour's peak stays
  });

  it('lets the list of nodes expire with their counts (nothing left behind once every node stops)', async () => {
    const client = new Redis(redis.url);
    try {
      await local.deps.services.usage.sample();
      const ttl = await client.pttl('parley:usage:nodes');
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(3 * SAMPLE_MS);
    } finally {
      client.disconnect();
    }
  });

  it('reads the watermark, rolled rows and recent rows in one snapshot: a rollup committing mid-read counts nothing twice', async () => {
    // (PostgreSQL only: on PGlite's one connection the rollup cannot commit during a read.)
    const app = await seedApp(local);
    const [alice, bob] = (await seedUsers(local, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(local, alice, [bob]);
    for (let i = 0; i < 3; i++) await ok(local.graphqlUrl, FixSend, { input: { conversationId, body: 'hi' } }, { token: alice.token });
    const prisma = local.deps.db.prisma;
    const store = createUsageStore(prisma);
    const now = Date.now();
    const range = { from: new Date(now - 2 * 3600_000), to: new Date(now + 3600_000), unit: 'hour' as const };

    let read: ReturnType<typeof store.read> | undefined;
    await prisma.$transaction(async (tx) => {
      // Hold usage_hour so the read stops after taking the watermark, before reading usage_hour...
      await tx.$executeRaw`LOCK TABLE usage_hour IN ACCESS EXCLUSIVE MODE`;
      read = store.read({ tenantId: app.tenantId }, range, { activeUsers: false });
      await eventually(async () => {
        const [waiting] = await prisma.$queryRaw<{ n: number }[]>`
          SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FROM usage_hour%'`;
        expect(waiting!.n).toBe(1);
      });
      // ...and roll up meanwhile (the same statements, in this transaction), moving the watermark past the messages.
      const inTx = createUsageStore({ $transaction: (run: (t: typeof tx) => unknown) => run(tx) } as unknown as typeof prisma);
      expect(await inTx.rollUp({ settleMs: 0, maxSpanMs: 365 * 24 * 3600_000 })).toMatchObject({ until: expect.any(Date) });
    }, { timeout: 20_000 });
    const { rolled, tail } = await read!;
    const messages = [...rolled, ...tail].reduce((n, r) => n + r.messages, 0);
    expect(messages).toBe(3);
  });
});
