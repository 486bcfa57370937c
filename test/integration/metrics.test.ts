import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { errorCode, ok } from '../helpers/client.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { connectWs, disposeAllWs, eventually, subscribeWs } from '../helpers/ws.ts';

// GET /metrics (issue 7, item 2): scraped after real traffic over HTTP and WebSocket, the
// histograms, counters and gauges move with the right labels; METRICS_TOKEN guards it; the
// tenant label is capped; webhook retries and dead letters are counted.

const Send = graphql(`mutation ObsSend($input: SendMessageInput!) { sendMessage(input: $input) { id seq } }`);
const Conversation = graphql(`query ObsConversation($id: ID!) { conversation(id: $id) { id } }`);
const Events = graphql(`
  subscription ObsEvents($conversationId: ID!) {
    conversationEvents(conversationId: $conversationId) { __typename seq }
  }
`);
const Replay = graphql(`
  subscription ObsReplay($conversationId: ID!, $afterSeq: Int) {
    conversationEvents(conversationId: $conversationId, afterSeq: $afterSeq) { seq }
  }
`);
const CreateEndpoint = graphql(`
  mutation ObsCreateEndpoint($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } } }
`);

const METRICS_TOKEN = 'obs-metrics-token-0123456789';
let server: TestServer;

beforeAll(async () => {
  server = await startServer({ METRICS_TOKEN, WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', WEBHOOK_RETRY_SCHEDULE: '0.2,0.2', WEBHOOK_TIMEOUT_MS: '2000' });
});
afterEach(() => disposeAllWs());
afterAll(() => server?.close());

type Samples = Map<string, number>;

/** Prometheus text → `name{a="1",b="2"}` (labels sorted) → value. */
function parse(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels = [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => `${k}="${v}"`).sort();
    samples.set(`${match[1]}{${labels.join(',')}}`, Number(match[3]));
  }
  return samples;
}

/** One sample's value (0 when absent), by name and labels. */
const value = (samples: Samples, name: string, labels: Record<string, string> = {}) =>
  samples.get(`${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',')}}`) ?? 0;

async function scrape(target: TestServer = server, token: string | null = METRICS_TOKEN): Promise<Samples> {
  const res = await fetch(`${target.url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parse(await res.text());
}

async function setup() {
  const app = await seedApp(server);
  const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
  const conversationId = await seedGroup(server, alice, [bob]);
  return { app, alice, bob, conversationId };
}
const send = (user: SeededUser, conversationId: string, body: string) => ok(server.graphqlUrl, Send, { input: { conversationId, body } }, { token: user.token });

describe('GET /metrics', () => {
  it('is Prometheus text with the process defaults and every parley_ metric named in the docs', async () => {
    const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    const text = await res.text();
    expect(text).toContain('# TYPE process_cpu_seconds_total counter');
    for (const name of [
      'parley_http_request_duration_seconds histogram',
      'parley_graphql_operation_duration_seconds histogram',
      'parley_graphql_errors_total counter',
      'parley_ws_sockets gauge',
      'parley_ws_subscriptions gauge',
      'parley_events_published_total counter',
      'parley_events_delivered_total counter',
      'parley_fanout_lag_seconds histogram',
      'parley_outbox_backlog gauge',
      'parley_outbox_oldest_seconds gauge',
      'parley_webhook_queue_depth gauge',
      'parley_webhook_attempts_total counter',
      'parley_webhook_retries_total counter',
      'parley_webhook_dead_letters_total counter',
    ]) {
      expect(text).toContain(`# TYPE ${name}`);
    }
    const samples = parse(text);
    // Store-wide (other test files share a PostgreSQL run's database): a count, whatever it is.
    expect([...samples.keys()].some((key) => key.startsWith('parley_outbox_backlog'))).toBe(true);
    expect(samples.has('parley_webhook_queue_depth{state="due"}')).toBe(true);
  });

  it('requires METRICS_TOKEN when it is set: 401 without it or with another', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong-token-wrong-token' }, { authorization: METRICS_TOKEN }] as Record<string, string>[]) {
      const res = await fetch(`${server.url}/metrics`, { headers });
      expect(res.status).toBe(401);
      expect(await res.text()).not.toContain('parley_');
    }
  });

  it('is open without METRICS_TOKEN, on the worker role too', async () => {
    const worker = await startServer({ ROLE: 'worker' });
    try {
      const samples = await scrape(worker, null);
      expect(samples.has('parley_webhook_queue_depth{state="due"}')).toBe(true);
      expect(samples.has('parley_webhook_attempts_in_flight{}')).toBe(true);
      expect((await fetch(`${worker.url}/graphql`)).status).toBe(404); // the worker serves no API
    } finally {
      await worker.close();
    }
  });
});

describe('after real traffic', () => {
  it('a mutation, a subscription with a delivery and an error move the histograms, counters and gauges with the right labels', async () => {
    const { app, alice, bob, conversationId } = await setup();
    const tenant = app.tenantId;
    const before = await scrape();

    const ws = connectWs(server, { token: bob.token });
    await ws.connected;
    await eventually(async () => expect(value(await scrape(), 'parley_ws_sockets', { tenant })).toBe(1));
    const sub = subscribeWs(ws, Events, { conversationId });
    await eventually(async () => expect(value(await scrape(), 'parley_ws_subscriptions', { tenant, field: 'conversationEvents' })).toBe(1));

    await send(alice, conversationId, 'measured');
    await eventually(() => expect(sub.data.map((d) => d.conversationEvents.seq)).toEqual([1]));
    expect(await errorCode(server.graphqlUrl, Conversation, { id: 'cnv_missing' }, { token: alice.token })).toBe('NOT_FOUND');

    await eventually(async () => {
      const after = await scrape();
      const grew = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);
      expect(grew('parley_http_request_duration_seconds_count', { method: 'POST', route: '/graphql', status_class: '2xx' })).toBeGreaterThanOrEqual(2);
      expect(grew('parley_graphql_operation_duration_seconds_count', { type: 'mutation', field: 'sendMessage', outcome: 'ok' })).toBe(1);
      expect(grew('parley_graphql_operation_duration_seconds_count', { type: 'query', field: 'conversation', outcome: 'error' })).toBe(1);
      expect(value(after, 'parley_graphql_errors_total', { code: 'NOT_FOUND', tenant })).toBe(1);
      expect(value(after, 'parley_events_published_total', { tenant, kind: 'persisted' })).toBe(1);
      expect(value(after, 'parley_events_delivered_total', { tenant, field: 'conversationEvents' })).toBe(1);
      expect(grew('parley_fanout_lag_seconds_count')).toBe(1);
      expect(grew('parley_fanout_lag_seconds_bucket', { le: '+Inf' })).toBe(1);
    });
    // No client-chosen operation name becomes a label.
    expect([...(await scrape()).keys()].some((key) => key.includes('ObsSend'))).toBe(false);

    await ws.dispose();
    await eventually(async () => {
      const after = await scrape();
      expect(value(after, 'parley_ws_sockets', { tenant })).toBe(0);
      expect(value(after, 'parley_ws_subscriptions', { tenant, field: 'conversationEvents' })).toBe(0);
    });
  });

  it('a replayed event (afterSeq) counts as delivered but not as fanout lag: it was not live', async () => {
    const { app, alice, bob, conversationId } = await setup();
    await send(alice, conversationId, 'before the socket');
    const before = await scrape();
    const ws = connectWs(server, { token: bob.token });
    const sub = subscribeWs(ws, Replay, { conversationId, afterSeq: 0 });
    await eventually(() => expect(sub.data).toHaveLength(1));
    await eventually(async () => expect(value(await scrape(), 'parley_events_delivered_total', { tenant: app.tenantId, field: 'conversationEvents' })).toBe(1));
    expect(value(await scrape(), 'parley_fanout_lag_seconds_count')).toBe(value(before, 'parley_fanout_lag_seconds_count'));
  });
});

describe('the tenant label', () => {
  it('names the first METRICS_TENANT_LABELS tenants a node sees; the rest are "other"', async () => {
    const capped = await startServer({ METRICS_TENANT_LABELS: '1' });
    try {
      const [first, second] = [await seedApp(capped), await seedApp(capped)] as [SeededApp, SeededApp];
      const code = await errorCode(capped.graphqlUrl, Conversation, { id: 'cnv_missing' }, { apiKey: first.apiKey });
      expect(await errorCode(capped.graphqlUrl, Conversation, { id: 'cnv_missing' }, { apiKey: second.apiKey })).toBe(code);
      const samples = await scrape(capped, null);
      expect(value(samples, 'parley_graphql_errors_total', { code, tenant: first.tenantId })).toBe(1);
      expect(value(samples, 'parley_graphql_errors_total', { code, tenant: 'other' })).toBe(1);
      expect([...samples.keys()].some((key) => key.includes(second.tenantId))).toBe(false);
    } finally {
      await capped.close();
    }
  });
});

describe('webhooks', () => {
  it('a receiver that always fails: each attempt, each retry and the dead letter are counted', async () => {
    const { app, alice, conversationId } = await setup();
    const hook = await startReceiver(() => 500);
    try {
      const before = await scrape();
      await ok(server.graphqlUrl, CreateEndpoint, { input: { url: hook.url, events: ['conversation.message.created'] } }, { apiKey: app.apiKey });
      await send(alice, conversationId, 'never delivered');
      const grew = (after: Samples, name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);
      // WEBHOOK_RETRY_SCHEDULE 0.2,0.2: the first attempt and two retries, then a dead letter.
      await eventually(async () => expect(grew(await scrape(), 'parley_webhook_dead_letters_total', { reason: 'exhausted' })).toBe(1));
      const after = await scrape();
      expect(hook.received).toHaveLength(3);
      expect(grew(after, 'parley_webhook_attempts_total', { outcome: 'failed' })).toBe(3);
      expect(grew(after, 'parley_webhook_retries_total')).toBe(2);
    } finally {
      await hook.close();
    }
  });
});
