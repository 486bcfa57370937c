import { randomBytes } from 'node:crypto';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { print } from 'graphql';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { seedApp, seedGroup, seedUsers, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { connectWs, disposeAllWs, eventually, subscribeWs } from '../helpers/ws.ts';
import { installTracing, stopTracing } from '../../src/observability/tracing.ts';

// Tracing across nodes (issue 7): a message sent to one node reaches a socket on another over
// Redis, and the socket write there continues the sender's trace (the envelope carries it).

const Send = graphql(`mutation TraceClusterSend($input: SendMessageInput!) { sendMessage(input: $input) { seq } }`);
const Events = graphql(`
  subscription TraceClusterEvents($conversationId: ID!, $afterSeq: Int) {
    conversationEvents(conversationId: $conversationId, afterSeq: $afterSeq) { seq }
  }
`);

const exporter = new InMemorySpanExporter();
let redis: Awaited<ReturnType<typeof startRedis>>;
let nodes: TestServer[];

beforeAll(async () => {
  installTracing({ exporter });
  redis = await startRedis();
  const shared = { REDIS_URL: redis.url, ADMIN_TOKEN: `cluster-admin-${Date.now()}-token` };
  nodes = [await startServer(shared), await startServer(shared)];
});
afterEach(() => disposeAllWs());
afterAll(async () => {
  for (const node of nodes ?? []) await node.close();
  await redis?.stop();
  await stopTracing();
});

describe('a trace across the Redis bus', () => {
  it("the socket write on the other node is a child of the committing node's publish, in the caller's trace", async () => {
    const [sender, receiver] = nodes as [TestServer, TestServer];
    const app = await seedApp(sender);
    const [alice, bob] = (await seedUsers(sender, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(sender, alice, [bob]);
    const ws = connectWs(receiver, { token: bob.token });
    await ws.connected;
    const sub = subscribeWs(ws, Events, { conversationId, afterSeq: 0 });
    // Wait until bob's subscription on the receiving node is live (it has received something).
    const send = async (body: string, headers: Record<string, string> = {}) => {
      const res = await fetch(sender.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${alice.token}`, ...headers },
        body: JSON.stringify({ query: print(Send), variables: { input: { conversationId, body } } }),
      });
      return ((await res.json()) as { data: { sendMessage: { seq: number } } }).data.sendMessage.seq;
    };
    const warmUp = await send('warm-up');
    await eventually(() => expect(sub.data.map((d) => d.conversationEvents.seq)).toContain(warmUp));

    const traceId = randomBytes(16).toString('hex');
    const seq = await send('across', { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` });
    await eventually(() => expect(sub.data.map((d) => d.conversationEvents.seq)).toContain(seq));
    const spans = () => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    await eventually(() => expect(spans().filter((s) => s.kind === SpanKind.CONSUMER)).toHaveLength(1));
    const publish = spans().filter((s) => s.kind === SpanKind.PRODUCER);
    expect(publish).toHaveLength(1);
    const [write] = spans().filter((s) => s.kind === SpanKind.CONSUMER);
    expect(write!.parentSpanContext?.spanId).toBe(publish[0]!.spanContext().spanId);
    expect(write!.attributes).toMatchObject({ 'parley.subscription': 'conversationEvents', 'parley.event.seq': seq });
  });
});
