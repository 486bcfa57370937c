import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { ok } from '../helpers/client.ts';
import { createDatabase } from '../helpers/databases.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { seedApp, seedGroup, seedUsers, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { eventually } from '../helpers/ws.ts';

// Several workers share the queue: a healthy receiver still gets each conversation's events in
// seq order (a delivery waits while an earlier one of its endpoint and conversation is queued
// or in flight). Without that, two workers fetching side by side deliver out of order.

const Create = graphql(`
  mutation HookOrderCreate($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } } }
`);
const Send = graphql(`mutation HookOrderSend($input: SendMessageInput!) { sendMessage(input: $input) { seq } }`);

let database: Awaited<ReturnType<typeof createDatabase>>;
let nodes: TestServer[] = [];
let shared: Record<string, string>;

beforeAll(async () => {
  database = await createDatabase(inject('adminDatabaseUrl'), 'parley_hook_order');
  shared = { DATABASE_URL: database.url, ADMIN_TOKEN: `hook-order-admin-${Date.now()}`, WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' };
  // An API node alone first: the deliveries queue up, and then workers start side by side.
  nodes = [await startServer({ ...shared, ROLE: 'api' })];
});
afterAll(async () => {
  for (const node of nodes) await node.close();
  await database?.drop();
});

describe('webhook order with several workers', () => {
  it("a conversation's events reach a healthy receiver in seq order, every one once", async () => {
    const [first] = nodes as [TestServer];
    const app = await seedApp(first);
    const [alice, bob] = (await seedUsers(first, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(first, alice, [bob]);
    // A receiver that takes a little time, so that workers overlap.
    const hook = await startReceiver((_n, _req, res) => void setTimeout(() => res.writeHead(200).end(), 15));
    try {
      await ok(first.graphqlUrl, Create, { input: { url: hook.url, events: ['conversation.message.created'] } }, { apiKey: app.apiKey });
      const sent: number[] = [];
      for (let i = 0; i < 30; i++) {
        sent.push((await ok(first.graphqlUrl, Send, { input: { conversationId, body: `m${i}` } }, { token: alice.token })).sendMessage.seq);
      }
      expect(hook.received).toHaveLength(0);
      nodes.push(...(await Promise.all([startServer({ ...shared, ROLE: 'worker' }), startServer({ ...shared, ROLE: 'worker' }), startServer({ ...shared, ROLE: 'worker' })])));
      await eventually(() => expect(hook.received).toHaveLength(30), 30_000);
      expect(hook.received.map((r) => JSON.parse(r.body).data.seq as number)).toEqual(sent);
    } finally {
      await hook.close();
    }
  }, 60_000);
});
