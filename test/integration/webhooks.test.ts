import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { errorCode, execute, ok } from '../helpers/client.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { eventually } from '../helpers/ws.ts';
import { newId } from '../../src/lib/ids.ts';
import { jobFor } from '../../src/modules/webhook/webhook-queue.ts';

// Webhooks end to end (issue 6): a real local receiver, deliveries verified with the
// `standardwebhooks` package as an app would, retries, dead letters and replay, 410, filters,
// secret rotation, and what an app may not reach. Retries are fast here (0.2 s, 0.2 s).

const Create = graphql(`
  mutation HooksCreate($input: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) { secret endpoint { id appId url events status } }
  }
`);
const Update = graphql(`
  mutation HooksUpdate($id: ID!, $input: UpdateWebhookEndpointInput!) {
    updateWebhookEndpoint(id: $id, input: $input) { id url events status disabledReason }
  }
`);
const Remove = graphql(`mutation HooksDelete($id: ID!) { deleteWebhookEndpoint(id: $id) }`);
const Rotate = graphql(`
  mutation HooksRotate($id: ID!) { rotateWebhookEndpointSecret(id: $id) { secret endpoint { id } } }
`);
const Endpoints = graphql(`query HooksEndpoints { webhookEndpoints { id url status disabledReason } }`);
const Deliveries = graphql(`
  query HooksDeliveries($endpointId: ID!) {
    webhookDeliveries(endpointId: $endpointId, first: 20) {
      edges { node { id eventType seq status attempts lastStatus attemptLog { attempt status error } } }
    }
  }
`);
const DeadLetters = graphql(`
  query HooksDeadLetters($appId: ID!) {
    deadLetters(appId: $appId, first: 20) { edges { node { id endpointId status attempts lastStatus } } }
  }
`);
const DeliveriesPage = graphql(`
  query HooksDeliveriesPage($endpointId: ID!, $first: Int, $after: String) {
    webhookDeliveries(endpointId: $endpointId, first: $first, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } }
  }
`);
const DeadLettersPage = graphql(`
  query HooksDeadLettersPage($appId: ID!, $first: Int, $after: String) {
    deadLetters(appId: $appId, first: $first, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } }
  }
`);
const Replay = graphql(`mutation HooksReplay($id: ID!) { replayDeadLetter(id: $id) { id status attempts } }`);
const ReplayAll = graphql(`mutation HooksReplayAll($endpointId: ID!) { replayDeadLetters(endpointId: $endpointId) }`);
const Send = graphql(`mutation HooksSend($input: SendMessageInput!) { sendMessage(input: $input) { id seq } }`);

let server: TestServer;
const receivers: Awaited<ReturnType<typeof startReceiver>>[] = [];

beforeAll(async () => {
  server = await startServer({ WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', WEBHOOK_RETRY_SCHEDULE: '0.2,0.2', WEBHOOK_TIMEOUT_MS: '2000' });
});
afterEach(async () => {
  for (const receiver of receivers.splice(0)) await receiver.close();
});
afterAll(() => server?.close());

async function receiver(...args: Parameters<typeof startReceiver>) {
  const started = await startReceiver(...args);
  receivers.push(started);
  return started;
}
async function setup() {
  const app = await seedApp(server);
  const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
  const conversationId = await seedGroup(server, alice, [bob]);
  return { app, alice, conversationId };
}
const asApp = (app: SeededApp) => ({ apiKey: app.apiKey });
const createEndpoint = async (app: SeededApp, url: string, events?: string[]) =>
  (await ok(server.graphqlUrl, Create, { input: { url, events, description: 'test' } }, asApp(app))).createWebhookEndpoint;
const send = (user: SeededUser, conversationId: string, body: string) =>
  ok(server.graphqlUrl, Send, { input: { conversationId, body } }, { token: user.token });
const deliveries = async (app: SeededApp, endpointId: string) =>
  (await ok(server.graphqlUrl, Deliveries, { endpointId }, asApp(app))).webhookDeliveries.edges.map((e) => e.node);
const messageHooks = <R extends { body: string }>(r: { received: R[] }) => r.received.filter((x) => JSON.parse(x.body).type === 'conversation.message.created');

describe('delivery', () => {
  it('every event reaches the endpoint, signed per Standard Webhooks: the standardwebhooks package verifies it', async () => {
    const { app, alice, conversationId } = await setup();
    const hook = await receiver();
    const { endpoint, secret } = await createEndpoint(app, hook.url);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(endpoint).toMatchObject({ appId: app.appId, url: hook.url, events: ['*'], status: 'ENABLED' });

    const sent = await send(alice, conversationId, 'hello hooks');
    await eventually(() => expect(messageHooks(hook)).toHaveLength(1));
    const [request] = messageHooks(hook);
    const verified = new Webhook(secret).verify(request!.body, request!.headers as Record<string, string>) as {
      type: string;
      data: { conversationId: string; seq: number; message: { id: string; body: string } };
    };
    expect(verified.type).toBe('conversation.message.created');
    expect(verified.data).toMatchObject({ conversationId, seq: sent.sendMessage.seq, message: { id: sent.sendMessage.id, body: 'hello hooks' } });
    expect(request!.headers['content-type']).toBe('application/json');
    // A forged body does not verify.
    expect(() => new Webhook(secret).verify(request!.body.replace('hello', 'HELLO'), request!.headers as Record<string, string>)).toThrow();

    const delivery = (await deliveries(app, endpoint.id)).find((d) => d.id === request!.headers['webhook-id'])!;
    expect(delivery).toMatchObject({ eventType: 'conversation.message.created', status: 'SUCCEEDED', attempts: 1, lastStatus: 200, seq: sent.sendMessage.seq });
    expect(delivery.attemptLog).toEqual([{ attempt: 1, status: 200, error: null }]);
  });

  it('a receiver failing twice then succeeding gets the event exactly once more, with the same webhook-id', async () => {
    const { app, alice, conversationId } = await setup();
    const hook = await receiver((n) => (n <= 2 ? 500 : 200));
    const { endpoint } = await createEndpoint(app, hook.url, ['conversation.message.created']);
    await send(alice, conversationId, 'third time lucky');
    await eventually(async () => expect((await deliveries(app, endpoint.id))[0]?.status).toBe('SUCCEEDED'));
    expect(hook.received).toHaveLength(3);
    expect(new Set(hook.received.map((r) => r.headers['webhook-id'])).size).toBe(1);
    const [delivery] = await deliveries(app, endpoint.id);
    expect(delivery!.attemptLog.map((a) => a.status)).toEqual([500, 500, 200]);
  });

  it('a conversation’s events reach a healthy receiver in seq order', async () => {
    const { app, alice, conversationId } = await setup();
    const hook = await receiver();
    await createEndpoint(app, hook.url, ['conversation.message.created']);
    for (let i = 1; i <= 8; i++) await send(alice, conversationId, `m${i}`);
    await eventually(() => expect(hook.received).toHaveLength(8));
    const seqs = hook.received.map((r) => JSON.parse(r.body).data.seq as number);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });

  it('an endpoint gets only the event types it asked for', async () => {
    const { app, alice, conversationId } = await setup();
    const joins = await receiver();
    const all = await receiver();
    await createEndpoint(app, joins.url, ['conversation.member.joined']);
    await createEndpoint(app, all.url);
    await send(alice, conversationId, 'not for joins');
    await eventually(() => expect(messageHooks(all)).toHaveLength(1));
    expect(messageHooks(joins)).toHaveLength(0);
  });
});

describe('dead letters', () => {
  it('a dead receiver: after the last attempt the delivery is a dead letter; once fixed, replay delivers it', async () => {
    const { app, alice, conversationId } = await setup();
    const hook = await receiver(() => 503);
    const { endpoint } = await createEndpoint(app, hook.url, ['conversation.message.created']);
    await send(alice, conversationId, 'into the void');
    await eventually(async () => expect((await deliveries(app, endpoint.id))[0]?.status).toBe('FAILED'));
    expect(hook.received).toHaveLength(3); // the first attempt and the schedule's two retries
    const dead = (await ok(server.graphqlUrl, DeadLetters, { appId: app.appId }, asApp(app))).deadLetters.edges.map((e) => e.node);
    expect(dead).toEqual([expect.objectContaining({ endpointId: endpoint.id, status: 'FAILED', attempts: 3, lastStatus: 503 })]);
    // The operator sees the same dead letters.
    expect((await ok(server.graphqlUrl, DeadLetters, { appId: app.appId }, { token: server.adminToken })).deadLetters.edges).toHaveLength(1);

    hook.answerWith(() => 200);
    expect((await ok(server.graphqlUrl, Replay, { id: dead[0]!.id }, asApp(app))).replayDeadLetter.status).toBe('PENDING');
    await eventually(async () => expect((await deliveries(app, endpoint.id))[0]?.status).toBe('SUCCEEDED'));
    expect(hook.received.at(-1)!.headers['webhook-id']).toBe(dead[0]!.id);
    expect((await ok(server.graphqlUrl, DeadLetters, { appId: app.appId }, asApp(app))).deadLetters.edges).toHaveLength(0);
    // Only dead letters are replayed.
    expect(await errorCode(server.graphqlUrl, Replay, { id: dead[0]!.id }, asApp(app))).toBe('BAD_USER_INPUT');
  });

  it('replay-all for an endpoint sends every dead letter again (the operator may too)', async () => {
    const { app, alice, conversationId } = await setup();
    const hook = await receiver(() => 500);
    const { endpoint } = await createEndpoint(app, hook.url, ['conversation.message.created']);
    await send(alice, conversationId, 'one');
    await send(alice, conversationId, 'two');
    await eventually(async () => expect((await deliveries(app, endpoint.id)).map((d) => d.status)).toEqual(['FAILED', 'FAILED']));
    hook.answerWith(() => 200);
    expect((await ok(server.graphqlUrl, ReplayAll, { endpointId: endpoint.id }, { token: server.adminToken })).replayDeadLetters).toBe(2);
    await eventually(async () => expect((await deliveries(app, endpoint.id)).map((d) => d.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']));
  });

  it('410 Gone disables the endpoint: no more attempts, and the app sees why', async () => {
    const { app, alice, conversationId } = await setup();
    const hook = await receiver(() => 410);
    const { endpoint } = await createEndpoint(app, hook.url, ['conversation.message.created']);
    await send(alice, conversationId, 'are you there');
    await eventually(async () => expect((await deliveries(app, endpoint.id))[0]?.status).toBe('FAILED'));
    expect(hook.received).toHaveLength(1);
    const listed = (await ok(server.graphqlUrl, Endpoints, {}, asApp(app))).webhookEndpoints;
    expect(listed).toEqual([expect.objectContaining({ id: endpoint.id, status: 'DISABLED', disabledReason: expect.stringContaining('410') })]);
    await send(alice, conversationId, 'no one listens');
    expect(await deliveries(app, endpoint.id)).toHaveLength(1); // a disabled endpoint gets no new deliveries
  });
});

describe('Retry-After', () => {
  let patient: TestServer;
  beforeAll(async () => {
    // A schedule no test would wait for: only Retry-After can bring the retry this soon.
    patient = await startServer({ WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', WEBHOOK_RETRY_SCHEDULE: '3600' });
  });
  afterAll(() => patient?.close());

  it("a receiver's Retry-After replaces the schedule's delay for the next attempt", async () => {
    const app = await seedApp(patient);
    const [alice, bob] = (await seedUsers(patient, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(patient, alice, [bob]);
    const hook = await receiver((n, _req, res) => {
      if (n === 1) return void res.writeHead(503, { 'retry-after': '1' }).end('busy');
      return 200;
    });
    await ok(patient.graphqlUrl, Create, { input: { url: hook.url, events: ['conversation.message.created'] } }, asApp(app));
    await ok(patient.graphqlUrl, Send, { input: { conversationId, body: 'later, please' } }, { token: alice.token });
    await eventually(() => expect(hook.received).toHaveLength(2), 15_000);
    expect(hook.received[1]!.at - hook.received[0]!.at).toBeGreaterThanOrEqual(900);
  });
});

describe('an endpoint failing for long', () => {
  let quick: TestServer;
  beforeAll(async () => {
    quick = await startServer({ WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', WEBHOOK_RETRY_SCHEDULE: '0.1', WEBHOOK_DISABLE_AFTER_SECONDS: '1' });
  });
  afterAll(() => quick?.close());

  it('is disabled when a delivery dies after WEBHOOK_DISABLE_AFTER_SECONDS without a success, and the app is told on its other endpoints', async () => {
    const app = await seedApp(quick);
    const [alice, bob] = (await seedUsers(quick, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(quick, alice, [bob]);
    const dead = await receiver(() => 500);
    const watcher = await receiver();
    const make = async (url: string, events: string[]) =>
      (await ok(quick.graphqlUrl, Create, { input: { url, events } }, asApp(app))).createWebhookEndpoint.endpoint;
    const failing = await make(dead.url, ['conversation.message.created']);
    await make(watcher.url, ['webhook.endpoint.disabled']);
    const status = async () => (await ok(quick.graphqlUrl, Endpoints, {}, asApp(app))).webhookEndpoints.find((e) => e.id === failing.id)!;

    // Keep failing until the endpoint has been failing for a second when a delivery dies.
    await eventually(async () => {
      await ok(quick.graphqlUrl, Send, { input: { conversationId, body: 'still there?' } }, { token: alice.token });
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect((await status()).status).toBe('DISABLED');
    }, 20_000);
    expect((await status()).disabledReason).toMatch(/^Failing since .* without a successful delivery$/);
    await eventually(() => expect(watcher.received).toHaveLength(1));
    const told = JSON.parse(watcher.received[0]!.body) as { type: string; data: { endpointId: string; url: string } };
    expect(told).toMatchObject({ type: 'webhook.endpoint.disabled', data: { endpointId: failing.id, url: dead.url } });
  });

  it('a success in between starts the count again: an endpoint that recovers is not disabled', async () => {
    const app = await seedApp(quick);
    const [alice, bob] = (await seedUsers(quick, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(quick, alice, [bob]);
    // Fails everything but every third request: no stretch of a second without a success.
    const flaky = await receiver((n) => (n % 3 === 0 ? 200 : 500));
    const endpoint = (await ok(quick.graphqlUrl, Create, { input: { url: flaky.url, events: ['conversation.message.created'] } }, asApp(app))).createWebhookEndpoint.endpoint;
    for (let i = 0; i < 6; i++) {
      await ok(quick.graphqlUrl, Send, { input: { conversationId, body: `m${i}` } }, { token: alice.token });
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    await eventually(async () => expect((await ok(quick.graphqlUrl, Deliveries, { endpointId: endpoint.id }, asApp(app))).webhookDeliveries.edges.every((e) => e.node.status !== 'PENDING')).toBe(true));
    expect((await ok(quick.graphqlUrl, Endpoints, {}, asApp(app))).webhookEndpoints[0]).toMatchObject({ id: endpoint.id, status: 'ENABLED' });
  });
});

describe('jobs run at least once, attempts once', () => {
  const pendingRow = async (app: SeededApp, endpointId: string, conversationId: string, seq: number) => {
    const row = { id: newId.webhookDelivery(), endpointId, appId: app.appId, eventType: 'conversation.message.created', conversationId, seq, payload: { type: 'test', data: { seq } } };
    await server.deps.db.prisma.webhookDelivery.create({ data: row });
    return row;
  };

  it('a job queued twice, even while its attempt is under way, makes one request', async () => {
    const { app, conversationId } = await setup();
    const hook = await receiver((_n, _req, res) => void setTimeout(() => res.writeHead(200).end(), 300));
    const { endpoint } = await createEndpoint(app, hook.url, ['conversation.message.created']);
    const row = await pendingRow(app, endpoint.id, conversationId, 1000);
    const queue = server.deps.services.webhookQueue;
    await queue.enqueue(null, [jobFor(row, 1)]);
    queue.notify();
    await eventually(() => expect(hook.received).toHaveLength(1));
    await queue.enqueue(null, [jobFor(row, 1), jobFor(row, 1)]); // while the first is in flight, and after
    queue.notify();
    await eventually(async () => expect((await deliveries(app, endpoint.id))[0]?.status).toBe('SUCCEEDED'));
    await queue.enqueue(null, [jobFor(row, 1)]);
    queue.notify();
    await new Promise((resolve) => setTimeout(resolve, 1500)); // a poll or two: a second request would have come
    expect(hook.received).toHaveLength(1);
  });

  it('a delivery whose job was lost is found by the sweep and delivered', async () => {
    const { app, conversationId } = await setup();
    const hook = await receiver();
    const { endpoint } = await createEndpoint(app, hook.url, ['conversation.message.created']);
    const row = await pendingRow(app, endpoint.id, conversationId, 2000);
    // No job, and overdue: as if the process had died between commit and queueing.
    await server.deps.db.prisma.$executeRaw`UPDATE webhook_delivery SET updated_at = now() - interval '1 hour' WHERE id = ${row.id}`;
    expect(await server.node.worker!.sweepWebhooks()).toBeGreaterThanOrEqual(1);
    await eventually(() => expect(hook.received.map((r) => r.headers['webhook-id'])).toEqual([row.id]));
  });

  it('two replays of one dead letter at once send it once', async () => {
    const { app, alice, conversationId } = await setup();
    const hook = await receiver(() => 500);
    const { endpoint } = await createEndpoint(app, hook.url, ['conversation.message.created']);
    await send(alice, conversationId, 'replay me once');
    await eventually(async () => expect((await deliveries(app, endpoint.id))[0]?.status).toBe('FAILED'));
    const [dead] = await deliveries(app, endpoint.id);
    hook.answerWith(() => 200);
    const before = hook.received.length;
    const results = await Promise.all([1, 2].map(() => execute(server.graphqlUrl, ReplayAll, { endpointId: endpoint.id }, asApp(app))));
    expect(results.map((r) => r.data?.replayDeadLetters).sort()).toEqual([0, 1]);
    await eventually(async () => expect((await deliveries(app, endpoint.id))[0]?.status).toBe('SUCCEEDED'));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(hook.received.length - before).toBe(1);
    expect(hook.received.at(-1)!.headers['webhook-id']).toBe(dead!.id);
  });
});

describe('contract details', () => {
  it('webhookDeliveries and deadLetters are Relay connections: first/after visit every row once, oldest first', async () => {
    const { app, conversationId } = await setup();
    const { endpoint } = await createEndpoint(app, 'http://127.0.0.1:9/never-called', ['conversation.message.created']);
    const ids: string[] = [];
    for (let seq = 1; seq <= 5; seq++) {
      const id = newId.webhookDelivery();
      ids.push(id);
      await server.deps.db.prisma.webhookDelivery.create({
        data: { id, endpointId: endpoint.id, appId: app.appId, eventType: 'conversation.message.created', conversationId, seq, payload: {}, status: 'FAILED', attempts: 3, createdAt: new Date(Date.now() + seq) },
      });
    }
    type Page = { edges: { node: { id: string } }[]; pageInfo: { hasNextPage: boolean; endCursor?: string | null } };
    const walk = async (page: (after: string | null) => Promise<Page>) => {
      const seen: string[] = [];
      let after: string | null = null;
      for (;;) {
        const p: Page = await page(after);
        seen.push(...p.edges.map((e) => e.node.id));
        if (!p.pageInfo.hasNextPage) return seen;
        after = p.pageInfo.endCursor ?? null;
      }
    };
    expect(await walk(async (after) => (await ok(server.graphqlUrl, DeliveriesPage, { endpointId: endpoint.id, first: 2, after }, asApp(app))).webhookDeliveries)).toEqual(ids);
    expect(await walk(async (after) => (await ok(server.graphqlUrl, DeadLettersPage, { appId: app.appId, first: 2, after }, asApp(app))).deadLetters)).toEqual(ids);
  });

  it('a receiver that answers within WEBHOOK_TIMEOUT_MS has received the event; one that answers later has not (the attempt is retried)', async () => {
    const { app, alice, conversationId } = await setup();
    // The server's timeout is 2 s: first answer after 2.5 s, then at once.
    const hook = await receiver((n, _req, res) => void setTimeout(() => res.writeHead(200).end(), n === 1 ? 2500 : 0));
    const { endpoint } = await createEndpoint(app, hook.url, ['conversation.message.created']);
    await send(alice, conversationId, 'in time?');
    await eventually(async () => expect((await deliveries(app, endpoint.id))[0]?.status).toBe('SUCCEEDED'), 15_000);
    const [delivery] = await deliveries(app, endpoint.id);
    expect(delivery!.attemptLog).toEqual([
      { attempt: 1, status: null, error: 'timeout' },
      { attempt: 2, status: 200, error: null },
    ]);
  });

  it('disabling an endpoint turns its pending deliveries into dead letters when their turn comes, without calling it', async () => {
    const { app, conversationId } = await setup();
    const hook = await receiver();
    const { endpoint } = await createEndpoint(app, hook.url, ['conversation.message.created']);
    const id = newId.webhookDelivery();
    const row = { id, endpointId: endpoint.id, appId: app.appId, eventType: 'conversation.message.created', conversationId, seq: 1, payload: {} };
    await server.deps.db.prisma.webhookDelivery.create({ data: row });
    await ok(server.graphqlUrl, Update, { id: endpoint.id, input: { status: 'DISABLED' } }, asApp(app));
    await server.deps.services.webhookQueue.enqueue(null, [jobFor(row, 1)]);
    server.deps.services.webhookQueue.notify();
    await eventually(async () => expect((await deliveries(app, endpoint.id))[0]?.status).toBe('FAILED'));
    expect(hook.received).toHaveLength(0);
  });
});

describe('managing endpoints', () => {
  it('update, disable and enable, delete', async () => {
    const { app, alice, conversationId } = await setup();
    const hook = await receiver();
    const { endpoint } = await createEndpoint(app, hook.url, ['conversation.member.joined']);
    const updated = await ok(server.graphqlUrl, Update, { id: endpoint.id, input: { events: ['conversation.message.created'] } }, asApp(app));
    expect(updated.updateWebhookEndpoint).toMatchObject({ events: ['conversation.message.created'], status: 'ENABLED', url: hook.url });
    await ok(server.graphqlUrl, Update, { id: endpoint.id, input: { status: 'DISABLED' } }, asApp(app));
    await send(alice, conversationId, 'while disabled');
    await ok(server.graphqlUrl, Update, { id: endpoint.id, input: { status: 'ENABLED' } }, asApp(app));
    await send(alice, conversationId, 'enabled again');
    await eventually(() => expect(hook.received).toHaveLength(1));
    expect(JSON.parse(hook.received[0]!.body).data.message.body).toBe('enabled again');

    expect((await ok(server.graphqlUrl, Remove, { id: endpoint.id }, asApp(app))).deleteWebhookEndpoint).toBe(true);
    expect(await errorCode(server.graphqlUrl, Remove, { id: endpoint.id }, asApp(app))).toBe('NOT_FOUND');
    expect((await ok(server.graphqlUrl, Endpoints, {}, asApp(app))).webhookEndpoints).toEqual([]);
  });

  it('rotating the secret: both secrets sign during the overlap, so receivers with either verify', async () => {
    const { app, alice, conversationId } = await setup();
    const hook = await receiver();
    const { endpoint, secret: old } = await createEndpoint(app, hook.url, ['conversation.message.created']);
    const { rotateWebhookEndpointSecret } = await ok(server.graphqlUrl, Rotate, { id: endpoint.id }, asApp(app));
    expect(rotateWebhookEndpointSecret.secret).not.toBe(old);
    await send(alice, conversationId, 'after rotation');
    await eventually(() => expect(hook.received).toHaveLength(1));
    const { body, headers } = hook.received[0]!;
    expect(String(headers['webhook-signature']).split(' ')).toHaveLength(2);
    for (const secret of [old, rotateWebhookEndpointSecret.secret]) expect(() => new Webhook(secret).verify(body, headers as Record<string, string>)).not.toThrow();
  });

  it('bad input: unknown event types, URLs that are not http(s), credentials in the URL', async () => {
    const { app } = await setup();
    for (const [input, path] of [
      [{ url: 'https://example.com/hook', events: ['conversation.typing'] }, 'input.events'],
      [{ url: 'ftp://example.com/hook' }, 'input.url'],
      [{ url: 'https://user:pass@example.com/hook' }, 'input.url'],
      [{ url: 'not a url' }, 'input.url'],
    ] as const) {
      const res = await execute(server.graphqlUrl, Create, { input: input as never }, asApp(app));
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', issues: [expect.objectContaining({ path })] });
    }
    expect((await ok(server.graphqlUrl, Endpoints, {}, asApp(app))).webhookEndpoints).toEqual([]);
  });

  it("an app never reaches another app's endpoints, deliveries or dead letters (NOT_FOUND)", async () => {
    const a = await setup();
    const b = await seedApp(server);
    const hook = await receiver();
    const { endpoint } = await createEndpoint(a.app, hook.url);
    expect(await errorCode(server.graphqlUrl, Update, { id: endpoint.id, input: { status: 'DISABLED' } }, asApp(b))).toBe('NOT_FOUND');
    expect(await errorCode(server.graphqlUrl, Remove, { id: endpoint.id }, asApp(b))).toBe('NOT_FOUND');
    expect(await errorCode(server.graphqlUrl, Rotate, { id: endpoint.id }, asApp(b))).toBe('NOT_FOUND');
    expect(await errorCode(server.graphqlUrl, Deliveries, { endpointId: endpoint.id }, asApp(b))).toBe('NOT_FOUND');
    expect(await errorCode(server.graphqlUrl, DeadLetters, { appId: a.app.appId }, asApp(b))).toBe('NOT_FOUND');
    expect(await errorCode(server.graphqlUrl, ReplayAll, { endpointId: endpoint.id }, asApp(b))).toBe('NOT_FOUND');
    expect((await ok(server.graphqlUrl, Endpoints, {}, asApp(b))).webhookEndpoints).toEqual([]);
    // End users manage nothing.
    expect(await errorCode(server.graphqlUrl, Endpoints, {}, { token: a.alice.token })).toBe('FORBIDDEN');
  });
});

describe('targets (SSRF)', () => {
  let strict: TestServer;
  beforeAll(async () => {
    strict = await startServer();
  });
  afterAll(() => strict?.close());

  it('without WEBHOOK_ALLOW_PRIVATE_TARGETS, loopback, private and link-local targets and plain http are refused', async () => {
    const app = await seedApp(strict);
    for (const url of ['http://127.0.0.1:9/hook', 'https://127.0.0.1/hook', 'https://10.0.0.8/hook', 'https://169.254.169.254/latest/meta-data', 'https://[::1]/hook', 'https://localhost/hook', 'http://example.com/hook']) {
      const res = await execute(strict.graphqlUrl, Create, { input: { url } }, asApp(app));
      expect(res.errors?.[0]?.extensions.code, url).toBe('BAD_USER_INPUT');
    }
    expect((await ok(strict.graphqlUrl, Create, { input: { url: 'https://hooks.example.com/parley' } }, asApp(app))).createWebhookEndpoint.endpoint.url).toBe(
      'https://hooks.example.com/parley',
    );
  });
});
