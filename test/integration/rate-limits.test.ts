import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { execute, ok } from '../helpers/client.ts';
import { seedApp, seedGroup, seedUsers, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { eventually } from '../helpers/ws.ts';

const Send = graphql(`
  mutation RateSend($input: SendMessageInput!) {
    sendMessage(input: $input) { id seq }
  }
`);

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server?.close());

describe('messagesPerSecondPerUser', () => {
  it('refuses sends past the plan’s rate with RATE_LIMITED, HTTP 429 and Retry-After, stores none of them, and recovers', async () => {
    const app = await seedApp(server, { plan: 'FREE', planRate: true }); // FREE: 5 per second
    const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(server, alice, [bob]);

    const burst = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        execute(server.graphqlUrl, Send, { input: { conversationId, body: `b${i}`, idempotencyKey: `key-${i}` } }, { token: alice.token }),
      ),
    );
    const sent = burst.filter((r) => r.data?.sendMessage);
    const refused = burst.filter((r) => r.errors);
    expect(sent.length + refused.length).toBe(12);
    expect(sent.length).toBeGreaterThanOrEqual(5);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.status).toBe(429);
      expect(r.errors![0]!.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) });
      expect(Number(r.headers.get('retry-after'))).toBe(r.errors![0]!.extensions.retryAfterSeconds);
    }
    // What was refused left no trace: the stored messages are exactly the accepted ones, seq 1..n.
    const stored = await server.deps.db.prisma.message.findMany({ where: { conversationId }, orderBy: { seq: 'asc' } });
    expect(stored.map((m) => m.seq)).toEqual(sent.map((_, i) => i + 1));

    // A retry of a send that was made is answered with the original, limit or not.
    const keyed = burst.findIndex((r) => r.data?.sendMessage);
    const retried = await execute(server.graphqlUrl, Send, { input: { conversationId, body: `b${keyed}`, idempotencyKey: `key-${keyed}` } }, { token: alice.token });
    expect(retried.errors).toBeUndefined();
    expect(retried.data?.sendMessage.id).toBe(burst[keyed]!.data!.sendMessage.id);

    // The budget is per user: Bob is not slowed by Alice's burst.
    expect((await ok(server.graphqlUrl, Send, { input: { conversationId, body: 'bob' } }, { token: bob.token })).sendMessage.id).toBeTruthy();
    // And it comes back.
    await eventually(async () => {
      const again = await execute(server.graphqlUrl, Send, { input: { conversationId, body: 'later' } }, { token: alice.token });
      expect(again.errors).toBeUndefined();
    }, 5_000);
  });
});

describe('CONVERSATION_MESSAGES_PER_SECOND', () => {
  it('bounds one conversation’s messages from all its senders together; other conversations are not affected', async () => {
    const own = await startServer({ CONVERSATION_MESSAGES_PER_SECOND: '3' });
    try {
      const app = await seedApp(own); // per-user rate lifted: only the conversation's counts
      const users = (await seedUsers(own, app, 4)) as SeededUser[];
      const conversationId = await seedGroup(own, users[0]!, users.slice(1));
      const quiet = await seedGroup(own, users[0]!, users.slice(1, 2));
      const burst = await Promise.all(
        Array.from({ length: 12 }, (_, i) => execute(own.graphqlUrl, Send, { input: { conversationId, body: `c${i}` } }, { token: users[i % 4]!.token })),
      );
      const refused = burst.filter((r) => r.errors?.[0]?.extensions.code === 'RATE_LIMITED');
      expect(refused.length).toBeGreaterThan(0);
      expect(burst.filter((r) => r.data?.sendMessage).length + refused.length).toBe(12);
      expect(refused[0]!.errors![0]!.message).toContain('in one conversation');
      expect((await execute(own.graphqlUrl, Send, { input: { conversationId: quiet, body: 'elsewhere' } }, { token: users[0]!.token })).errors).toBeUndefined();
    } finally {
      await own.close();
    }
  });
});
