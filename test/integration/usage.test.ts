import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createActivityRecorder } from '../../src/modules/usage/activity-recorder.ts';
import { createMemorySocketCounts } from '../../src/modules/usage/socket-counts.ts';
import { createUsageService } from '../../src/modules/usage/usage.service.ts';
import { createUsageStore } from '../../src/modules/usage/usage.store.ts';
import { graphql } from '../generated/index.ts';
import { errorCode, ok } from '../helpers/client.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { connectWs, disposeAllWs, eventually, wsUrl } from '../helpers/ws.ts';

// Usage (issue 7): per-tenant counters from the store, active users, live and peak sockets,
// webhook counts, and who may ask. Each test seeds tenants of its own.

const Usage = graphql(`
  query UsageTenant($tenantId: ID, $from: DateTime, $to: DateTime, $granularity: UsageGranularity) {
    usage(tenantId: $tenantId, from: $from, to: $to, granularity: $granularity) {
      tenantId from to granularity currentSockets
      totals {
        messages monthlyActiveUsers peakSockets webhookDeliveries webhookAttempts webhookAttemptsSucceeded
        webhookDeadLetters webhookSuccessRate
      }
      buckets {
        start messages activeUsers peakSockets webhookDeliveries webhookAttempts webhookAttemptsSucceeded webhookDeadLetters
      }
      apps { appId name currentSockets totals { messages monthlyActiveUsers peakSockets } }
    }
  }
`);
const Live = graphql(`query UsageLive { liveConnections { total tenants { tenantId name sockets } } }`);
const Send = graphql(`mutation UsageSend($input: SendMessageInput!) { sendMessage(input: $input) { id } }`);
const SendAs = graphql(`mutation UsageSendAs($input: SendMessageInput!, $asUserId: ID) { sendMessage(input: $input, asUserId: $asUserId) { id } }`);
const Me = graphql(`query UsageMe { me { id } }`);
const SecondApp = graphql(`mutation UsageSecondApp($input: CreateAppInput!) { createApp(input: $input) { id } }`);
const SecondKey = graphql(`mutation UsageSecondKey($appId: ID!) { createApiKey(appId: $appId) { key apiKey { id } } }`);
const CreateEndpoint = graphql(`
  mutation UsageEndpoint($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } } }
`);
const AppUsage = graphql(`
  query UsageFixAppUsage($granularity: UsageGranularity) {
    usage(granularity: $granularity) {
      tenantId currentSockets
      totals { messages monthlyActiveUsers peakSockets }
      buckets { messages activeUsers peakSockets }
      apps { appId name currentSockets totals { messages monthlyActiveUsers peakSockets } }
    }
  }
`);
const ActiveByFragment = graphql(`
  query UsageFixActiveByFragment($tenantId: ID) { usage(tenantId: $tenantId) { ...UsageFixActive } }
  fragment UsageFixActive on TenantUsage { totals { messages monthlyActiveUsers } }
`);
const DeadLetters = graphql(`query UsageDeadLetters($appId: ID!) { deadLetters(appId: $appId, first: 10) { edges { node { id } } } }`);

let server: TestServer;
const receivers: Awaited<ReturnType<typeof startReceiver>>[] = [];
beforeAll(async () => {
  server = await startServer({ USAGE_SAMPLE_MS: '100', WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', WEBHOOK_RETRY_SCHEDULE: '0.2,0.2', WEBHOOK_TIMEOUT_MS: '2000' });
});
afterEach(async () => {
  await disposeAllWs();
  for (const r of receivers.splice(0)) await r.close();
});
afterAll(() => server?.close());

const admin = () => ({ token: server.adminToken });
const usageOf = (tenantId: string, vars: { granularity?: 'HOUR' | 'DAY'; from?: string; to?: string } = {}) =>
  ok(server.graphqlUrl, Usage, { tenantId, ...vars }, admin()).then((r) => r.usage);
const send = (user: SeededUser, conversationId: string, body = 'hi') => ok(server.graphqlUrl, Send, { input: { conversationId, body } }, { token: user.token });

/** The tenant's messages as the rollup has folded them into usage_hour. */
const rolledMessages = async (tenantId: string) =>
  (await server.deps.db.prisma.usageHour.aggregate({ where: { tenantId }, _sum: { messages: true } }))._sum.messages ?? 0;

/** A second app of the tenant, with a key. */
async function secondApp(app: SeededApp): Promise<SeededApp> {
  const { createApp } = await ok(server.graphqlUrl, SecondApp, { input: { tenantId: app.tenantId, name: 'second' } }, admin());
  const { createApiKey } = await ok(server.graphqlUrl, SecondKey, { appId: createApp.id }, admin());
  return { tenantId: app.tenantId, appId: createApp.id, apiKey: createApiKey.key, apiKeyId: createApiKey.apiKey.id };
}

describe('usage counters', () => {
  it("counts a tenant's messages in totals, buckets and apps, and nobody else's", async () => {
    const one = await seedApp(server);
    const two = await secondApp(one);
    const other = await seedApp(server);
    const [a1, b1] = (await seedUsers(server, one, 2)) as [SeededUser, SeededUser];
    const [a2, b2] = (await seedUsers(server, two, 2)) as [SeededUser, SeededUser];
    const [a3, b3] = (await seedUsers(server, other, 2)) as [SeededUser, SeededUser];
    const [c1, c2, c3] = await Promise.all([seedGroup(server, a1, [b1]), seedGroup(server, a2, [b2]), seedGroup(server, a3, [b3])]);
    for (let i = 0; i < 3; i++) await send(a1, c1);
    await send(b1, c1);
    for (let i = 0; i < 2; i++) await send(a2, c2);
    for (let i = 0; i < 7; i++) await send(a3, c3);

    for (const granularity of ['DAY', 'HOUR'] as const) {
      const usage = await usageOf(one.tenantId, { granularity });
      expect(usage).toMatchObject({ tenantId: one.tenantId, granularity, totals: { messages: 6 } });
      expect(usage.buckets).toHaveLength(granularity === 'DAY' ? 30 : 48);
      expect(usage.buckets.reduce((n, b) => n + b.messages, 0)).toBe(6);
      const starts = usage.buckets.map((b) => Date.parse(b.start));
      expect(starts).toEqual([...starts].sort((x, y) => x - y));
      expect(new Date(usage.to).getTime() - new Date(usage.from).getTime()).toBe(starts.length * (granularity === 'DAY' ? 86_400_000 : 3_600_000));
      expect(usage.apps.map((a) => [a.appId, a.totals.messages])).toEqual([
        [one.appId, 4],
        [two.appId, 2],
      ]);
    }
    expect((await usageOf(other.tenantId)).totals.messages).toBe(7);
  });

  it('keeps the same counts once the rollup has folded them into the hourly table (nothing lost, nothing twice)', async () => {
    const app = await seedApp(server);
    const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(server, alice, [bob]);
    for (let i = 0; i < 5; i++) await send(alice, conversationId);
    // Active users reach the store on the recorder's next flush: compare once alice's has.
    await eventually(async () => expect((await usageOf(app.tenantId)).totals.monthlyActiveUsers).toBe(1));
    const before = await usageOf(app.tenantId, { granularity: 'HOUR' });
    expect(before.totals.messages).toBe(5);
    expect(await rolledMessages(app.tenantId)).toBe(0);
    await server.deps.services.usage.rollUp({ settleMs: 0 });
    await server.deps.services.usage.rollUp({ settleMs: 0 }); // a second pass adds nothing
    // The counts now come from usage_hour (the rollup did run), and still the same.
    expect(await rolledMessages(app.tenantId)).toBe(5);
    const after = await usageOf(app.tenantId, { granularity: 'HOUR' });
    expect(after.totals).toEqual(before.totals);
    expect(after.buckets).toEqual(before.buckets);
    await send(alice, conversationId); // past the new watermark: counted from the messages table
    expect((await usageOf(app.tenantId, { granularity: 'HOUR' })).totals.messages).toBe(6);
  });

  it('counts distinct active users: one user twice is one, and a sender through asUserId is active once rolled up', async () => {
    const app = await seedApp(server);
    const [alice, bob, carol] = (await seedUsers(server, app, 3)) as [SeededUser, SeededUser, SeededUser];
    const conversationId = await seedGroup(server, alice, [bob, carol]);
    for (let i = 0; i < 3; i++) await ok(server.graphqlUrl, Me, {}, { token: alice.token });
    await send(alice, conversationId);
    await ok(server.graphqlUrl, Me, {}, { token: bob.token });
    await eventually(async () => expect((await usageOf(app.tenantId)).totals.monthlyActiveUsers).toBe(2));
    // (Totals, not one bucket's: the requests may fall either side of an hour's end.)
    const usage = await usageOf(app.tenantId, { granularity: 'HOUR' });
    expect(usage.totals.monthlyActiveUsers).toBe(2);
    expect(usage.buckets.reduce((n, b) => n + b.activeUsers, 0)).toBeGreaterThanOrEqual(2);
    expect(usage.apps[0]!.totals.monthlyActiveUsers).toBe(2);
    // Carol made no request of her own: her app server sent for her.
    await ok(server.graphqlUrl, SendAs, { input: { conversationId, body: 'from the server' }, asUserId: carol.id }, { apiKey: app.apiKey });
    await server.deps.services.usage.rollUp({ settleMs: 0 });
    expect((await usageOf(app.tenantId)).totals.monthlyActiveUsers).toBe(3);
  });

  it('counts open sockets now (tenant, app, liveConnections) and keeps the peak after they close', async () => {
    const app = await seedApp(server);
    const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const sockets = [connectWs(server, { token: alice.token }), connectWs(server, { token: alice.token }), connectWs(server, { token: bob.token }), connectWs(server, { apiKey: app.apiKey })];
    await Promise.all(sockets.map((s) => s.connected));
    const usage = await usageOf(app.tenantId);
    expect(usage.currentSockets).toBe(4);
    expect(usage.apps[0]!.currentSockets).toBe(4);
    const live = (await ok(server.graphqlUrl, Live, {}, admin())).liveConnections;
    expect(live.tenants.find((t) => t.tenantId === app.tenantId)).toMatchObject({ sockets: 4, name: expect.stringMatching(/^tenant-/) });
    expect(live.total).toBeGreaterThanOrEqual(4);
    expect(live.tenants.map((t) => t.sockets)).toEqual([...live.tenants.map((t) => t.sockets)].sort((x, y) => y - x));
    await eventually(async () => expect((await usageOf(app.tenantId)).totals.peakSockets).toBe(4));
    // Holding a socket is activity: both users, without a request of their own.
    await eventually(async () => expect((await usageOf(app.tenantId)).totals.monthlyActiveUsers).toBe(2));

    await disposeAllWs();
    await eventually(async () => expect((await usageOf(app.tenantId)).currentSockets).toBe(0));
    await server.deps.services.usage.sample();
    const after = await usageOf(app.tenantId, { granularity: 'HOUR' });
    expect(after.totals.peakSockets).toBe(4);
    expect(Math.max(...after.buckets.map((b) => b.peakSockets))).toBe(4);
    expect(after.apps[0]).toMatchObject({ currentSockets: 0, totals: { peakSockets: 4 } });
    const liveAfter = (await ok(server.graphqlUrl, Live, {}, admin())).liveConnections;
    expect(liveAfter.tenants.some((t) => t.tenantId === app.tenantId)).toBe(false);
  });

  it('counts webhook deliveries, attempts, successes and dead letters', async () => {
    const app = await seedApp(server);
    const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(server, alice, [bob]);
    const failing = await startReceiver(() => 500);
    const fine = await startReceiver(() => 200);
    receivers.push(failing, fine);
    for (const url of [failing.url, fine.url]) {
      await ok(server.graphqlUrl, CreateEndpoint, { input: { url, events: ['conversation.message.created'] } }, { apiKey: app.apiKey });
    }
    await send(alice, conversationId);
    await send(alice, conversationId);
    // Two messages to two endpoints: 4 deliveries; the failing one's die after 3 attempts each.
    await eventually(async () => {
      const dead = await ok(server.graphqlUrl, DeadLetters, { appId: app.appId }, { apiKey: app.apiKey });
      expect(dead.deadLetters.edges).toHaveLength(2);
      const { totals } = await usageOf(app.tenantId);
      expect(totals).toMatchObject({ webhookDeliveries: 4, webhookAttempts: 8, webhookAttemptsSucceeded: 2, webhookDeadLetters: 2, webhookSuccessRate: 0.25 });
    }, 20_000);
    const { totals } = await usageOf(app.tenantId);
    await server.deps.services.usage.rollUp({ settleMs: 0 });
    const [rolled] = await server.deps.db.prisma.$queryRaw<{ attempts: unknown }[]>`
      SELECT sum(webhook_attempts)::int AS attempts FROM usage_hour WHERE tenant_id = ${app.tenantId}`;
    expect(Number(rolled?.attempts)).toBe(8); // folded into usage_hour (the rollup did run)
    expect((await usageOf(app.tenantId)).totals).toEqual(totals);
    expect((await usageOf((await seedApp(server)).tenantId)).totals.webhookSuccessRate).toBeNull();
  });
});

describe('who may ask', () => {
  it("the operator any tenant; an app server its own (tenantId omitted or its own); another tenant's id is NOT_FOUND", async () => {
    const app = await seedApp(server);
    const other = await seedApp(server);
    const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    await send(alice, await seedGroup(server, alice, [bob]));
    const key = { apiKey: app.apiKey };
    expect((await ok(server.graphqlUrl, Usage, {}, key)).usage).toMatchObject({ tenantId: app.tenantId, totals: { messages: 1 } });
    expect((await ok(server.graphqlUrl, Usage, { tenantId: app.tenantId }, key)).usage.tenantId).toBe(app.tenantId);
    expect(await errorCode(server.graphqlUrl, Usage, { tenantId: other.tenantId }, key)).toBe('NOT_FOUND');
    expect(await errorCode(server.graphqlUrl, Usage, { tenantId: 'ten_nope' }, admin())).toBe('NOT_FOUND');
    expect(await errorCode(server.graphqlUrl, Usage, {}, admin())).toBe('BAD_USER_INPUT');
    expect(await errorCode(server.graphqlUrl, Usage, { tenantId: app.tenantId }, { token: alice.token })).toBe('FORBIDDEN');
    expect(await errorCode(server.graphqlUrl, Usage, { tenantId: app.tenantId }, { none: true })).toBe('UNAUTHENTICATED');
    expect(await errorCode(server.graphqlUrl, Live, {}, key)).toBe('FORBIDDEN');
    expect(await errorCode(server.graphqlUrl, Live, {}, { token: alice.token })).toBe('FORBIDDEN');
    expect(await errorCode(server.graphqlUrl, Live, {}, { none: true })).toBe('UNAUTHENTICATED');
  });

  it('refuses bad ranges with BAD_USER_INPUT and rounds good ones out to whole buckets', async () => {
    const { tenantId } = await seedApp(server);
    const bad = (vars: { from?: string; to?: string; granularity?: 'HOUR' | 'DAY' }) => errorCode(server.graphqlUrl, Usage, { tenantId, ...vars }, admin());
    expect(await bad({ from: '2026-01-02T00:00:00Z', to: '2026-01-01T00:00:00Z' })).toBe('BAD_USER_INPUT');
    expect(await bad({ from: '2026-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z' })).toBe('BAD_USER_INPUT');
    expect(await bad({ from: '2025-01-01T00:00:00Z', to: '2026-06-01T00:00:00Z' })).toBe('BAD_USER_INPUT'); // over 366 days
    expect(await bad({ from: '2026-01-01T00:00:00Z', to: '2026-03-01T00:00:00Z', granularity: 'HOUR' })).toBe('BAD_USER_INPUT'); // over 31 days of hours
    expect(await bad({ from: 'yesterday' })).toBe('BAD_USER_INPUT');
    const usage = await usageOf(tenantId, { from: '2026-01-01T10:30:00Z', to: '2026-01-01T12:10:00Z', granularity: 'HOUR' });
    expect([usage.from, usage.to]).toEqual(['2026-01-01T10:00:00.000Z', '2026-01-01T13:00:00.000Z']);
    expect(usage.buckets.map((b) => b.start)).toEqual(['2026-01-01T10:00:00.000Z', '2026-01-01T11:00:00.000Z', '2026-01-01T12:00:00.000Z']);
    expect(usage.buckets.every((b) => b.messages === 0 && b.activeUsers === 0)).toBe(true);
  });
});

describe('an app server sees its own app only', () => {
  it("each key of a two-app tenant gets its app's messages, active users, sockets and peaks, and no sibling", async () => {
    const one = await seedApp(server);
    const two = await secondApp(one);
    const [a1, b1] = (await seedUsers(server, one, 2)) as [SeededUser, SeededUser];
    const [a2, b2] = (await seedUsers(server, two, 2)) as [SeededUser, SeededUser];
    const [c1, c2] = await Promise.all([seedGroup(server, a1, [b1]), seedGroup(server, a2, [b2])]);
    for (let i = 0; i < 3; i++) await send(a1, c1);
    await send(b1, c1);
    await send(a2, c2);
    const sockets = [connectWs(server, { token: a1.token }), connectWs(server, { token: b1.token }), connectWs(server, { apiKey: one.apiKey })];
    await Promise.all(sockets.map((w) => w.connected));
    await server.deps.services.usage.sample(); // peaks written, active users flushed
    await server.deps.services.usage.sample();

    for (const granularity of ['DAY', 'HOUR'] as const) {
      const mine = (await ok(server.graphqlUrl, AppUsage, { granularity }, { apiKey: one.apiKey })).usage;
      expect(mine).toMatchObject({ tenantId: one.tenantId, currentSockets: 3, totals: { messages: 4, monthlyActiveUsers: 2, peakSockets: 3 } });
      expect(mine.apps).toEqual([{ appId: one.appId, name: expect.any(String), currentSockets: 3, totals: { messages: 4, monthlyActiveUsers: 2, peakSockets: 3 } }]);
      expect(mine.buckets.reduce((n, b) => n + b.messages, 0)).toBe(4);

      const theirs = (await ok(server.graphqlUrl, AppUsage, { granularity }, { apiKey: two.apiKey })).usage;
      // Not the tenant's peak of 3 nor its sockets: app two had none open.
      expect(theirs).toMatchObject({ tenantId: one.tenantId, currentSockets: 0, totals: { messages: 1, monthlyActiveUsers: 1, peakSockets: 0 } });
      expect(theirs.apps.map((a) => a.appId)).toEqual([two.appId]);
      expect(Math.max(...theirs.buckets.map((b) => b.peakSockets))).toBe(0);
    }
    // The operator still sees the whole tenant.
    const all = await usageOf(one.tenantId);
    expect(all).toMatchObject({ currentSockets: 3, totals: { messages: 5, monthlyActiveUsers: 3, peakSockets: 3 } });
    expect(all.apps.map((a) => a.appId)).toEqual([one.appId, two.appId]);
  });
});

describe('usage fixes', () => {
  it('an API-key socket that closes while it is being admitted is not counted open', async () => {
    const app = await seedApp(server);
    const closed: Promise<unknown>[] = [];
    for (let i = 0; i < 5; i++) {
      const socket = new WebSocket(wsUrl(server), 'graphql-transport-ws');
      closed.push(new Promise((resolve) => socket.once('close', resolve)));
      socket.once('open', () => {
        socket.send(JSON.stringify({ type: 'connection_init', payload: { apiKey: app.apiKey } }));
        socket.close();
      });
    }
    await Promise.all(closed);
    // A socket admitted after them has been through the same awaits: theirs are done by now.
    const last = connectWs(server, { apiKey: app.apiKey });
    await last.connected;
    expect((await usageOf(app.tenantId)).currentSockets).toBe(1);
    await disposeAllWs();
    await eventually(async () => expect((await usageOf(app.tenantId)).currentSockets).toBe(0));
  });

  it('finds active-user fields asked for through a fragment (their queries are skipped only when not asked)', async () => {
    const app = await seedApp(server);
    const [alice] = (await seedUsers(server, app, 1)) as [SeededUser];
    await ok(server.graphqlUrl, Me, {}, { token: alice.token });
    await server.deps.services.usage.sample();
    const { usage } = await ok(server.graphqlUrl, ActiveByFragment, { tenantId: app.tenantId }, admin());
    expect(usage).toMatchObject({ totals: { messages: 0, monthlyActiveUsers: 1 } });
  });

  it('writes queued active users in one statement per chunk, and keeps them queued when a write fails', async () => {
    const calls: number[] = [];
    let failing = true;
    const errors: unknown[] = [];
    const recorder = createActivityRecorder({
      store: {
        recordActive: async (rows) => {
          calls.push(rows.length);
          if (failing) throw new Error('database down');
          return rows.length;
        },
      },
      onError: (err) => errors.push(err),
    });
    const scope = { tenantId: 'ten_1', appId: 'app_1' };
    for (let i = 0; i < 12_000; i++) recorder.record(scope, `usr_${i}`);
    recorder.record(scope, 'usr_1'); // already queued this hour: nothing more
    expect(calls).toEqual([]); // nothing written at record time
    await recorder.flush();
    expect(calls).toEqual([5_000]);
    expect(recorder.pending()).toBe(12_000);
    expect(errors).toHaveLength(1);
    failing = false;
    await recorder.flush();
    expect(calls).toEqual([5_000, 5_000, 5_000, 2_000]);
    expect(recorder.pending()).toBe(0);
  });

  it('prunes hourly active users past 31 days and daily ones past 400 days', async () => {
    const { tenantId, appId } = await seedApp(server);
    const prisma = server.deps.db.prisma;
    const now = Date.parse('2026-06-01T00:00:00Z');
    const hoursAgo = (n: number) => new Date(now - n * 3600_000);
    await prisma.usageActiveUser.createMany({
      data: [745, 800, 24].map((n) => ({ tenantId, appId, userId: `usr_${n}`, hour: hoursAgo(n) })),
    });
    await prisma.usageActiveUserDay.createMany({
      data: [399, 402].map((n) => ({ tenantId, appId, userId: `usr_${n}`, day: hoursAgo(n * 24) })),
    });
    await createUsageStore(prisma).pruneActive(now);
    const hours = await prisma.usageActiveUser.findMany({ where: { tenantId }, select: { userId: true }, orderBy: { userId: 'asc' } });
    const days = await prisma.usageActiveUserDay.findMany({ where: { tenantId }, select: { userId: true } });
    expect(hours.map((r) => r.userId)).toEqual(['usr_24', 'usr_745']); // 745 h: still inside the 744 h an HOUR query reaches (rounded out)
    expect(days.map((r) => r.userId)).toEqual(['usr_399']);
  });

  it('when Redis fails: falls back to this node\'s socket counts (logged), and a failed publish still raises the peaks', async () => {
    const app = await seedApp(server);
    const local = createMemorySocketCounts();
    const down = () => Promise.reject(new Error('redis down'));
    const errors: unknown[] = [];
    const usage = createUsageService({
      store: createUsageStore(server.deps.db.prisma),
      counts: { ...local, publish: down, cluster: down },
      sampleMs: 3600_000,
      onError: (err) => errors.push(err),
    });
    try {
      const scope = { tenantId: app.tenantId, appId: app.appId };
      usage.socketOpened({ kind: 'app', scope });
      usage.socketOpened({ kind: 'app', scope });
      expect((await usage.liveConnections()).tenants).toEqual([{ tenantId: app.tenantId, name: expect.any(String), sockets: 2 }]);
      await usage.sample();
      const figures = await usage.tenantUsage({ tenantId: app.tenantId }, { granularity: 'HOUR' });
      expect(figures).toMatchObject({ currentSockets: 2, totals: { peakSockets: 2 } });
      expect(errors.length).toBeGreaterThanOrEqual(3); // each failure logged, none thrown
    } finally {
      await usage.stop();
    }
  });
});
