import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { ok } from '../helpers/client.ts';
import { createDatabase } from '../helpers/databases.ts';
import { startProcess, type ParleyProcess } from '../helpers/process.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { seedApp, seedGroup, seedUsers, type SeededUser } from '../helpers/seed.ts';
import { eventually } from '../helpers/ws.ts';

// Webhook deliveries survive their worker (issue 6, item 7): an API node commits a message and
// its delivery; the only worker takes the attempt and is killed (kill -9) while the receiver
// holds the request open; a new worker finishes the delivery once the dead worker's job has
// expired. Real processes on PostgreSQL, as in production.

const Create = graphql(`
  mutation HookWorkerCreate($input: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) { endpoint { id } }
  }
`);
const Deliveries = graphql(`
  query HookWorkerDeliveries($endpointId: ID!) {
    webhookDeliveries(endpointId: $endpointId, first: 10) { edges { node { id status attempts } } }
  }
`);
const Send = graphql(`mutation HookWorkerSend($input: SendMessageInput!) { sendMessage(input: $input) { id } }`);

let database: Awaited<ReturnType<typeof createDatabase>>;
let api: ParleyProcess;
let workers: ParleyProcess[] = [];
let env: Record<string, string>;
const adminToken = `hook-worker-admin-${randomBytes(8).toString('hex')}`;

beforeAll(async () => {
  database = await createDatabase(inject('adminDatabaseUrl'), 'parley_hook_worker');
  env = {
    DATABASE_URL: database.url,
    ADMIN_TOKEN: adminToken,
    SECRET_KEY: `hook-worker-secret-${randomBytes(16).toString('hex')}`,
    WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    // An attempt gives up after 1 s; a job held by a dead worker comes back after 6 s (5 attempts + 1).
    WEBHOOK_TIMEOUT_MS: '1000',
    WEBHOOK_RETRY_SCHEDULE: '0.5,0.5,0.5',
  };
  api = await startProcess({ ...env, ROLE: 'api' }, { timeoutMs: 60_000 });
}, 90_000);

afterAll(async () => {
  for (const process of [api, ...workers]) await process?.stop('SIGKILL');
  await database?.drop();
});

describe('a worker killed mid-delivery', () => {
  it('the delivery still completes once another worker runs: the receiver gets it, with the same webhook-id', async () => {
    const target = { graphqlUrl: `${api.url}/graphql`, adminToken };
    const app = await seedApp(target);
    const [alice, bob] = (await seedUsers(target, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(target, alice, [bob]);

    // The first request is held open (the worker is killed meanwhile); later ones succeed.
    let firstArrived = () => {};
    const arrived = new Promise<void>((resolve) => (firstArrived = resolve));
    const hook = await startReceiver((n) => {
      if (n === 1) return void firstArrived();
      return 200;
    });
    try {
      const { createWebhookEndpoint } = await ok(
        target.graphqlUrl,
        Create,
        { input: { url: hook.url, events: ['conversation.message.created'] } },
        { apiKey: app.apiKey },
      );
      const endpointId = createWebhookEndpoint.endpoint.id;
      await ok(target.graphqlUrl, Send, { input: { conversationId, body: 'survive the worker' } }, { token: alice.token });

      workers.push(await startProcess({ ...env, ROLE: 'worker' }, { timeoutMs: 60_000 }));
      await arrived;
      await workers[0]!.stop('SIGKILL');
      const statuses = async () => (await ok(target.graphqlUrl, Deliveries, { endpointId }, { apiKey: app.apiKey })).webhookDeliveries.edges.map((e) => e.node.status);
      expect(await statuses()).toEqual(['PENDING']);

      workers.push(await startProcess({ ...env, ROLE: 'worker' }, { timeoutMs: 60_000 }));
      await eventually(async () => expect(await statuses()).toEqual(['SUCCEEDED']), 45_000);
      const ids = hook.received.map((r) => r.headers['webhook-id']);
      expect(ids.length).toBeGreaterThanOrEqual(2);
      expect(new Set(ids).size).toBe(1);
    } finally {
      await hook.close();
    }
  }, 90_000);
});
