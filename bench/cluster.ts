/**
 * Cluster fanout benchmark (`npm run bench:cluster`): events per second delivered to
 * subscribers by ONE Parley node with the in-process bus versus SEVERAL Parley nodes sharing
 * PostgreSQL and Redis, on the same machine, in the same run, with the same workload.
 *
 * Per scenario: a fresh PostgreSQL database (dropped at the end), for the cluster its own
 * redis-server, and real Parley processes (`node --import tsx src/main.ts`). Then one tenant
 * (plan ENTERPRISE, so per-user message limits stay far away), one app, N users, K group
 * conversations holding every user; every user subscribes to conversationEvents of every
 * conversation over graphql-ws (one socket per user, sockets round-robin over the nodes);
 * M messages are sent over HTTP with C in flight, round-robin over users and nodes.
 *
 * It measures deliveries/s (events received by all subscribers ÷ first send → last
 * delivery), sends/s, and delivery latency (client send → client receive, both clocks in this
 * process: the send time travels in the message body). It checks that every subscriber got
 * every seq of every conversation exactly once and in order, and says so loudly when not.
 *
 *   npm run bench:cluster -- [--users 50] [--messages 2000] [--concurrency 8] [--nodes 3]
 *                            [--conversations 1] [--scenarios single,cluster] [--role all]
 *                            [--idle-timeout 20] [--write]
 *
 * Every flag also reads from the environment: BENCH_USERS, BENCH_MESSAGES, BENCH_CONCURRENCY,
 * BENCH_NODES, BENCH_CONVERSATIONS, BENCH_SCENARIOS, BENCH_ROLE, BENCH_IDLE_TIMEOUT,
 * BENCH_WRITE=1. BENCH_DATABASE_URL (else DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/postgres)
 * is the server where the scratch databases are created.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createDatabase } from '../test/helpers/databases.ts';
import { startRedis } from '../test/helpers/redis-server.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOC = `${ROOT}docs/PERFORMANCE.md`;
const SECTION = '## Cluster fanout (npm run bench:cluster)';

// ---------------------------------------------------------------------------------------------
// Parameters

const { values: flags } = parseArgs({
  options: {
    users: { type: 'string' },
    messages: { type: 'string' },
    concurrency: { type: 'string' },
    nodes: { type: 'string' },
    conversations: { type: 'string' },
    scenarios: { type: 'string' },
    role: { type: 'string' },
    'idle-timeout': { type: 'string' },
    write: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (flags.help) {
  console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]);
  process.exit(0);
}

function intParam(flag: string | undefined, env: string, fallback: number, min = 1): number {
  const raw = flag ?? process.env[env];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${env} / --flag: expected an integer >= ${min}, got ${raw}`);
  return n;
}

const params = {
  users: intParam(flags.users, 'BENCH_USERS', 50, 2),
  messages: intParam(flags.messages, 'BENCH_MESSAGES', 2000),
  concurrency: intParam(flags.concurrency, 'BENCH_CONCURRENCY', 8),
  nodes: intParam(flags.nodes, 'BENCH_NODES', 3, 2),
  conversations: intParam(flags.conversations, 'BENCH_CONVERSATIONS', 1),
  idleTimeoutMs: intParam(flags['idle-timeout'], 'BENCH_IDLE_TIMEOUT', 20) * 1000,
  scenarios: (flags.scenarios ?? process.env.BENCH_SCENARIOS ?? 'single,cluster').split(',').map((s) => s.trim()),
  role: flags.role ?? process.env.BENCH_ROLE ?? '',
  write: flags.write ?? ['1', 'true', 'yes'].includes(process.env.BENCH_WRITE ?? ''),
  adminDatabaseUrl: process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres',
};
for (const s of params.scenarios) if (s !== 'single' && s !== 'cluster') throw new Error(`unknown scenario ${s} (single, cluster)`);

// ---------------------------------------------------------------------------------------------
// Cleanup: whatever happens, scratch databases are dropped and child processes killed.

const cleanups: (() => Promise<unknown>)[] = [];
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
async function cleanup() {
  while (cleanups.length) await cleanups.pop()!().catch((err: unknown) => console.error('cleanup:', err));
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------
// Parley processes

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Node = { url: string; graphqlUrl: string; wsUrl: string; warnings: () => number; tail: () => string; stop(): Promise<void> };

/**
 * Starts `node --import tsx src/main.ts` on a port chosen here, with LOG_LEVEL=warn (per-request
 * info logs would cost the server CPU the bench means to measure), and waits for /readyz.
 */
async function startNode(env: Record<string, string>): Promise<Node> {
  const port = await freePort();
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !['DATABASE_URL', 'DATA_DIR', 'REDIS_URL', 'ADMIN_TOKEN', 'SECRET_KEY', 'PORT', 'HOST', 'ROLE'].includes(k)),
  );
  const args = ['--import', 'tsx', 'src/main.ts', ...(params.role ? ['serve', '--role', params.role] : [])];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...inherited, NODE_ENV: 'production', LOG_LEVEL: 'warn', PORT: String(port), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  // Keep the last lines (for errors) and count warnings; never the whole output.
  let lines: string[] = [];
  let warnings = 0;
  const onData = (chunk: Buffer) => {
    const fresh = chunk.toString().split('\n').filter(Boolean);
    warnings += fresh.filter((l) => /"level":(40|50|60)/.test(l) || !l.startsWith('{')).length;
    lines = [...lines, ...fresh.map((l) => (l.length > 300 ? `${l.slice(0, 300)}…` : l))].slice(-10);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      children.delete(child);
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`Parley exited with ${child.exitCode ?? child.signalCode}:\n${lines.join('\n')}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Parley not ready within 60 s:\n${lines.join('\n')}`);
    }
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    await sleep(100);
  }
  return {
    url,
    graphqlUrl: `${url}/graphql`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    warnings: () => warnings,
    tail: () => lines.join('\n'),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// GraphQL over HTTP, plain strings

type Cred = { admin: string } | { apiKey: string } | { token: string };
const headers = (cred: Cred): Record<string, string> =>
  'admin' in cred ? { authorization: `Bearer ${cred.admin}` } : 'apiKey' in cred ? { 'x-api-key': cred.apiKey } : { authorization: `Bearer ${cred.token}` };

type GqlResult<T> = { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };

async function gql<T>(url: string, query: string, variables: Record<string, unknown>, cred: Cred): Promise<GqlResult<T>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers(cred) },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  try {
    return JSON.parse(text) as GqlResult<T>;
  } catch {
    return { errors: [{ message: `HTTP ${res.status}: ${text.slice(0, 200)}`, extensions: { code: `HTTP_${res.status}` } }] };
  }
}

async function must<T>(url: string, query: string, variables: Record<string, unknown>, cred: Cred): Promise<T> {
  const res = await gql<T>(url, query, variables, cred);
  if (res.errors?.length || !res.data) throw new Error(`GraphQL errors: ${JSON.stringify(res.errors)}`);
  return res.data;
}

const CreateTenant = `mutation BenchTenant($input: CreateTenantInput!) { createTenant(input: $input) { id } }`;
const CreateApp = `mutation BenchApp($input: CreateAppInput!) { createApp(input: $input) { id } }`;
const CreateKey = `mutation BenchKey($appId: ID!) { createApiKey(appId: $appId) { key } }`;
const UpsertUser = `mutation BenchUser($input: UpsertUserInput!) { upsertUser(input: $input) { id } }`;
const CreateToken = `mutation BenchToken($input: CreateUserTokenInput!) { createUserToken(input: $input) { token } }`;
const CreateConversation = `mutation BenchConversation($input: CreateConversationInput!) { createConversation(input: $input) { id } }`;
const SendMessage = `mutation BenchSend($input: SendMessageInput!) { sendMessage(input: $input) { seq } }`;
const Events = `subscription BenchEvents($conversationId: ID!, $afterSeq: Int) {
  conversationEvents(conversationId: $conversationId, afterSeq: $afterSeq) { seq type ... on MessageCreated { message { body } } }
}`;

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

// ---------------------------------------------------------------------------------------------
// Subscribers

type Violation = { user: number; conversation: number; kind: 'duplicate' | 'gap' | 'out-of-order'; expected: number; got: number };

type Subscriber = {
  user: number;
  /** Per conversation: the last seq received. */
  last: number[];
  received: number;
  reconnects: number;
  closes: string[];
  errors: string[];
  client: Client;
  dispose(): Promise<void>;
};

type Collector = {
  violations: Violation[];
  violationCount: number;
  latencies: number[];
  deliveries: number;
  lastDeliveryAt: number;
  /** A delivery came in (to wake the waiter). */
  onDelivery: () => void;
};

/**
 * One graphql-ws socket per user with one subscription per conversation. If a subscription
 * ends early (a 4008 slow-consumer close, say), it resumes from its last seq, as a real client
 * would, on a new socket to the same node; the bench counts it.
 */
function subscribe(node: Node, user: number, token: string, conversationIds: string[], collector: Collector): Subscriber {
  const sub: Subscriber = {
    user,
    last: conversationIds.map(() => 0),
    received: 0,
    reconnects: 0,
    closes: [],
    errors: [],
    client: undefined as unknown as Client,
    dispose: async () => {
      disposed = true;
      await sub.client.dispose();
    },
  };
  let disposed = false;
  const connect = () => {
    const client = createClient({
      url: node.wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      lazy: false,
      retryAttempts: 0,
      onNonLazyError: (err) => void sub.errors.push(String(err)),
      on: {
        closed: (event) => {
          const { code, reason } = event as { code?: number; reason?: string };
          if (!disposed) sub.closes.push(`${code} ${reason ?? ''}`.trim());
        },
      },
    });
    sub.client = client;
    let ended = 0;
    const resume = () => {
      if (disposed || ++ended < conversationIds.length) return;
      // Every subscription of this socket ended: reconnect and resume from the last seqs.
      sub.reconnects++;
      void client.dispose();
      setTimeout(() => !disposed && connect(), 100);
    };
    conversationIds.forEach((conversationId, c) => {
      client.subscribe<{ conversationEvents: { seq: number | null; type: string; message?: { body: string } } }>(
        { query: Events, variables: { conversationId, afterSeq: sub.last[c] } },
        {
          next: (result) => {
            if (result.errors?.length) sub.errors.push(JSON.stringify(result.errors));
            const event = result.data?.conversationEvents;
            if (!event || event.seq === null) return; // typing, read receipts
            const now = performance.now();
            const expected = sub.last[c]! + 1;
            if (event.seq !== expected) {
              collector.violationCount++;
              const kind = event.seq <= sub.last[c]! ? (event.seq === sub.last[c] ? 'duplicate' : 'out-of-order') : 'gap';
              if (collector.violations.length < 20) collector.violations.push({ user, conversation: c, kind, expected, got: event.seq });
            }
            if (event.seq > sub.last[c]!) sub.last[c] = event.seq;
            sub.received++;
            // Bodies are "bench <k> <sent at, performance.now() ms>"; the warm-up is not timed.
            const sentAt = Number(event.message?.body.split(' ')[2]);
            if (Number.isFinite(sentAt)) {
              collector.latencies.push(now - sentAt);
              collector.deliveries++;
              collector.lastDeliveryAt = now;
            }
            collector.onDelivery();
          },
          error: (err) => {
            if (!Array.isArray(err) && !(typeof err === 'object' && err && 'code' in err)) sub.errors.push(String(err));
            else if (Array.isArray(err)) sub.errors.push(JSON.stringify(err));
            resume();
          },
          complete: resume,
        },
      );
    });
  };
  connect();
  return sub;
}

// ---------------------------------------------------------------------------------------------
// One scenario

type Result = {
  scenario: 'single' | 'cluster';
  nodes: number;
  bus: string;
  subscribers: number;
  sent: number;
  sendErrors: Record<string, number>;
  expectedDeliveries: number;
  deliveries: number;
  sendSeconds: number;
  deliverySeconds: number;
  sendsPerSecond: number;
  deliveriesPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  violationCount: number;
  violations: Violation[];
  missing: number;
  incomplete: number;
  reconnects: number;
  closes: Record<string, number>;
  subscriberErrors: string[];
  serverWarnings: number;
};

const quantile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN);

async function runScenario(scenario: 'single' | 'cluster'): Promise<Result> {
  const nodeCount = scenario === 'single' ? 1 : params.nodes;
  const log = (msg: string) => console.error(`[${scenario}] ${msg}`);
  const scoped: (() => Promise<unknown>)[] = [];
  const later = (fn: () => Promise<unknown>) => {
    scoped.push(fn);
    cleanups.push(fn);
  };
  try {
    const database = await createDatabase(params.adminDatabaseUrl, 'bench');
    later(database.drop);
    const env: Record<string, string> = { DATABASE_URL: database.url, ADMIN_TOKEN: `bench-admin-${randomBytes(12).toString('hex')}` };
    if (scenario === 'cluster') {
      const redis = await startRedis();
      children.add(redis.process()); // killed if the bench itself is stopped
      later(redis.stop);
      env.REDIS_URL = redis.url;
    }
    log(`starting ${nodeCount} Parley node(s)${env.REDIS_URL ? ` with Redis at ${env.REDIS_URL}` : ''}`);
    // The first node migrates the fresh database; the others then start side by side.
    const nodes: Node[] = [await startNode(env)];
    later(() => nodes[0]!.stop());
    const rest = await Promise.all(Array.from({ length: nodeCount - 1 }, () => startNode(env)));
    for (const node of rest) {
      nodes.push(node);
      later(() => node.stop());
    }
    const nodeAt = (i: number) => nodes[i % nodes.length]!;

    // Seed: tenant, app, key, users with tokens, conversations.
    const admin = { admin: env.ADMIN_TOKEN! };
    const first = nodes[0]!.graphqlUrl;
    const { createTenant } = await must<{ createTenant: { id: string } }>(first, CreateTenant, { input: { name: `bench-${scenario}`, plan: 'ENTERPRISE' } }, admin);
    const { createApp } = await must<{ createApp: { id: string } }>(first, CreateApp, { input: { tenantId: createTenant.id, name: 'bench' } }, admin);
    const { createApiKey } = await must<{ createApiKey: { key: string } }>(first, CreateKey, { appId: createApp.id }, admin);
    const app = { apiKey: createApiKey.key };
    log(`seeding ${params.users} users`);
    const users = await pool(
      Array.from({ length: params.users }, (_, i) => i),
      8,
      async (i) => {
        const url = nodeAt(i).graphqlUrl;
        const { upsertUser } = await must<{ upsertUser: { id: string } }>(url, UpsertUser, { input: { externalId: `u${i}`, displayName: `User ${i}` } }, app);
        const { createUserToken } = await must<{ createUserToken: { token: string } }>(url, CreateToken, { input: { userId: upsertUser.id, ttlSeconds: 3600 } }, app);
        return { id: upsertUser.id, token: createUserToken.token };
      },
    );
    const conversationIds: string[] = [];
    for (let c = 0; c < params.conversations; c++) {
      const { createConversation } = await must<{ createConversation: { id: string } }>(
        first,
        CreateConversation,
        { input: { kind: 'GROUP', title: `bench ${c}`, memberIds: users.slice(1).map((u) => u.id) } },
        { token: users[0]!.token },
      );
      conversationIds.push(createConversation.id);
    }

    // Subscribers: one socket per user, round-robin over the nodes.
    let wake = () => {};
    const collector: Collector = { violations: [], violationCount: 0, latencies: [], deliveries: 0, lastDeliveryAt: 0, onDelivery: () => wake() };
    const subscribers = users.map((u, i) => subscribe(nodeAt(i), i, u.token, conversationIds, collector));
    later(() => Promise.all(subscribers.map((s) => s.dispose())));

    /** Waits until every subscriber has seq `upTo[c]` of every conversation, or nothing arrives for idleTimeoutMs. */
    const waitFor = async (upTo: number[]) => {
      const done = () => subscribers.every((s) => s.last.every((seq, c) => seq >= upTo[c]!));
      let lastProgress = Date.now();
      let seen = -1;
      while (!done()) {
        const total = subscribers.reduce((n, s) => n + s.received, 0);
        if (total !== seen) {
          seen = total;
          lastProgress = Date.now();
        } else if (Date.now() - lastProgress > params.idleTimeoutMs) return false;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 250);
          wake = () => {
            clearTimeout(timer);
            wake = () => {};
            setTimeout(resolve, 5); // batch wake-ups
          };
        });
      }
      return true;
    };

    // Warm-up: one message per conversation that every subscriber must receive. A stream
    // subscribes to its live topic before it reads the log, so once every subscriber has it,
    // every subscription is live. Not timed.
    log(`${subscribers.length} subscribers connected; warming up`);
    const lastSeq = conversationIds.map(() => 0);
    for (const [c, conversationId] of conversationIds.entries()) {
      const { sendMessage } = await must<{ sendMessage: { seq: number } }>(first, SendMessage, { input: { conversationId, body: 'warmup' } }, { token: users[0]!.token });
      lastSeq[c] = sendMessage.seq;
    }
    if (!(await waitFor(lastSeq))) throw new Error(`warm-up message not delivered to every subscriber within ${params.idleTimeoutMs / 1000} s`);
    const warnedBefore = nodes.reduce((n, node) => n + node.warnings(), 0);

    // The measured run.
    log(`sending ${params.messages} messages, ${params.concurrency} in flight`);
    const sendErrors: Record<string, number> = {};
    let sent = 0;
    const startedAt = performance.now();
    await pool(
      Array.from({ length: params.messages }, (_, k) => k),
      params.concurrency,
      async (k) => {
        const user = users[k % users.length]!;
        const c = k % conversationIds.length;
        const res = await gql<{ sendMessage: { seq: number } }>(
          nodeAt(k).graphqlUrl,
          SendMessage,
          { input: { conversationId: conversationIds[c], body: `bench ${k} ${performance.now().toFixed(3)}` } },
          { token: user.token },
        ).catch((err: unknown) => ({ errors: [{ message: String(err), extensions: { code: 'FETCH_FAILED' } }] }) as GqlResult<never>);
        const seq = res.data?.sendMessage.seq;
        if (seq === undefined) {
          const code = res.errors?.[0]?.extensions?.code ?? res.errors?.[0]?.message ?? 'UNKNOWN';
          sendErrors[code] = (sendErrors[code] ?? 0) + 1;
          return;
        }
        sent++;
        lastSeq[c] = Math.max(lastSeq[c]!, seq);
      },
    );
    const sentAt = performance.now();
    log(`sent ${sent} in ${((sentAt - startedAt) / 1000).toFixed(1)} s; waiting for deliveries`);
    const complete = await waitFor(lastSeq);
    const subscriberCount = subscribers.length;
    const expectedDeliveries = sent * subscriberCount;
    const missing = subscribers.reduce((n, s) => n + s.last.reduce((m, seq, c) => m + Math.max(0, lastSeq[c]! - seq), 0), 0);
    const sorted = Float64Array.from(collector.latencies).sort();
    const latencies = Array.from(sorted);
    const closes: Record<string, number> = {};
    for (const s of subscribers) for (const close of s.closes) closes[close] = (closes[close] ?? 0) + 1;
    const end = collector.lastDeliveryAt || sentAt;
    const result: Result = {
      scenario,
      nodes: nodeCount,
      bus: env.REDIS_URL ? 'redis' : 'in-process',
      subscribers: subscriberCount,
      sent,
      sendErrors,
      expectedDeliveries,
      deliveries: collector.deliveries,
      sendSeconds: (sentAt - startedAt) / 1000,
      deliverySeconds: (end - startedAt) / 1000,
      sendsPerSecond: sent / ((sentAt - startedAt) / 1000),
      deliveriesPerSecond: collector.deliveries / ((end - startedAt) / 1000),
      p50: quantile(latencies, 0.5),
      p95: quantile(latencies, 0.95),
      p99: quantile(latencies, 0.99),
      max: latencies.at(-1) ?? NaN,
      violationCount: collector.violationCount,
      violations: collector.violations,
      missing,
      incomplete: complete ? 0 : subscribers.filter((s) => s.last.some((seq, c) => seq < lastSeq[c]!)).length,
      reconnects: subscribers.reduce((n, s) => n + s.reconnects, 0),
      closes,
      subscriberErrors: subscribers.flatMap((s) => s.errors).slice(0, 10),
      serverWarnings: nodes.reduce((n, node) => n + node.warnings(), 0) - warnedBefore,
    };
    if (result.serverWarnings > 0) log(`server warnings/errors during the run: ${result.serverWarnings}; last lines of node 0:\n${nodes[0]!.tail()}`);
    return result;
  } finally {
    // This scenario's own cleanups, newest first, before the next scenario starts.
    for (const fn of scoped.reverse()) {
      cleanups.splice(cleanups.indexOf(fn), 1);
      await fn().catch((err: unknown) => log(`cleanup: ${String(err)}`));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–');

function correctness(r: Result): string {
  const problems: string[] = [];
  if (r.violationCount) problems.push(`${r.violationCount} order violations`);
  if (r.missing) problems.push(`${r.missing} missing`);
  if (r.reconnects) problems.push(`${r.reconnects} resumes`);
  if (Object.keys(r.sendErrors).length) problems.push(`${Object.values(r.sendErrors).reduce((a, b) => a + b, 0)} failed sends`);
  return problems.length ? `**${problems.join(', ')}**` : 'ok';
}

function table(results: Result[]): string {
  const rows = [
    ['scenario', 'nodes', 'bus', 'subscribers', 'messages sent', 'deliveries', 'sends/s', 'deliveries/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'exactly once, in order'],
    ...results.map((r) => [
      r.scenario,
      String(r.nodes),
      r.bus,
      String(r.subscribers),
      fmt(r.sent),
      `${fmt(r.deliveries)} / ${fmt(r.expectedDeliveries)}`,
      fmt(r.sendsPerSecond),
      fmt(r.deliveriesPerSecond),
      fmt(r.p50, 1),
      fmt(r.p95, 1),
      fmt(r.p99, 1),
      fmt(r.max, 1),
      correctness(r),
    ]),
  ];
  return rows.map((row, i) => `| ${row.join(' | ')} |${i === 0 ? `\n|${row.map(() => '---').join('|')}|` : ''}`).join('\n');
}

function details(results: Result[]): string[] {
  const out: string[] = [];
  for (const r of results) {
    if (r.violationCount || r.missing || r.reconnects || r.incomplete || Object.keys(r.sendErrors).length || r.subscriberErrors.length) {
      out.push(`- **${r.scenario}: NOT CORRECT / NOT CLEAN.**`);
      if (r.violationCount) out.push(`  - ${r.violationCount} seq violations, first: ${JSON.stringify(r.violations.slice(0, 5))}`);
      if (r.missing) out.push(`  - ${r.missing} events never delivered (${r.incomplete} subscribers incomplete after ${params.idleTimeoutMs / 1000} s idle)`);
      if (r.reconnects) out.push(`  - ${r.reconnects} subscriptions resumed after their socket closed: ${JSON.stringify(r.closes)}`);
      if (Object.keys(r.sendErrors).length) out.push(`  - failed sends: ${JSON.stringify(r.sendErrors)}`);
      if (r.subscriberErrors.length) out.push(`  - subscriber errors: ${r.subscriberErrors.join('; ').slice(0, 500)}`);
    }
    if (r.serverWarnings) out.push(`- ${r.scenario}: the server logged ${r.serverWarnings} warning/error lines during the run.`);
  }
  return out;
}

function summary(results: Result[]): string {
  const single = results.find((r) => r.scenario === 'single');
  const cluster = results.find((r) => r.scenario === 'cluster');
  if (!single || !cluster) return '';
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  return `Cluster ÷ single: deliveries/s ${ratio(cluster.deliveriesPerSecond, single.deliveriesPerSecond)}, sends/s ${ratio(cluster.sendsPerSecond, single.sendsPerSecond)}, p95 latency ${ratio(cluster.p95, single.p95)}.`;
}

function parameters(): string {
  return (
    `${params.users} users, each subscribed to conversationEvents of ${params.conversations} group conversation(s) holding all of them ` +
    `(${params.users} sockets, round-robin over the nodes); ${params.messages} messages over HTTP, ${params.concurrency} in flight, ` +
    `round-robin over users and nodes; tenant on plan ENTERPRISE.`
  );
}

function machine(): string {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  const load = os.loadavg().map((n) => n.toFixed(1)).join(' ');
  return `${os.cpus().length} cores (${cpu}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}, load average ${load} at the start`;
}

function writeDoc(results: Result[]) {
  let doc: string;
  try {
    doc = readFileSync(DOC, 'utf8');
  } catch {
    doc = `# Performance

Benchmarks of Parley on one machine. They are not tests: nothing here asserts a time, and
numbers from different machines do not compare. Each section says what it measures and the
command that reproduces it; \`--write\` rewrites that section with the latest run.

Everything runs on the same machine: PostgreSQL, Redis, every Parley process and the
benchmark's clients share its cores, so a cluster of N nodes is not N machines' worth of
CPU — it shows the cost and the correctness of the cluster path, not its scale-out.
`;
  }
  const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const section = `${SECTION}

Events per second delivered to WebSocket subscribers by one Parley node with the in-process
bus (\`single\`) and by ${params.nodes} Parley nodes sharing one PostgreSQL and one Redis (\`cluster\`),
measured in the same run with the same workload. Each scenario gets a fresh PostgreSQL
database (dropped afterwards), the cluster its own \`redis-server\`, and real Parley processes
(\`node --import tsx src/main.ts\`, \`NODE_ENV=production\`, \`LOG_LEVEL=warn\`${params.role ? `, \`serve --role ${params.role}\`` : ''}).

Workload: ${parameters()} One warm-up message per conversation (untimed) proves every
subscription live before the clock starts. The tenant is ENTERPRISE (50 messages/s per
user) and sends rotate over all users, so a per-user message rate limit (5/s on FREE) would
not throttle the run once enforced.

- **deliveries/s**: \`MessageCreated\` events received by all subscribers ÷ (last delivery − first send).
- **sends/s**: successful \`sendMessage\` calls ÷ (last response − first send). All sends go to
  ${params.conversations === 1 ? 'one conversation, so they queue on its row lock (seq order) in PostgreSQL' : `${params.conversations} conversations`}.
- **latency**: client send → client receive, per delivery (the send time travels in the body;
  both clocks are the benchmark's).
- **exactly once, in order**: every subscriber must see seq 1…last of every conversation,
  each once, in order. A resumed subscription (socket closed, e.g. 4008 slow consumer,
  resubscribed with \`afterSeq\`) is counted and flagged even though it ends correct.

Every delivered event was sent, so deliveries/s ≈ sends/s × subscribers while nothing is
lost: at these sizes the send path (one conversation's row lock, and CPU shared with the
fanout) sets the pace. Raise \`--users\` to load the fanout harder, \`--conversations\` to
take the row lock out of the way. A load average well above the core count at the start
means something else was running: rerun.

Latest run: ${date} UTC, ${startedOn}.

${table(results)}

${[summary(results), ...details(results)].filter(Boolean).join('\n')}

Reproduce: \`npm run bench:cluster -- --users ${params.users} --messages ${params.messages} --concurrency ${params.concurrency} --nodes ${params.nodes}${params.conversations !== 1 ? ` --conversations ${params.conversations}` : ''} --write\`
(needs PostgreSQL at \`BENCH_DATABASE_URL\`, default \`postgresql://postgres@127.0.0.1:5432/postgres\`,
and \`redis-server\` on the PATH; \`--help\` lists every flag).
`;
  const start = doc.indexOf(SECTION);
  if (start === -1) {
    doc = `${doc.trimEnd()}\n\n${section}`;
  } else {
    const after = doc.indexOf('\n## ', start + SECTION.length);
    doc = `${doc.slice(0, start)}${section}${after === -1 ? '' : `\n${doc.slice(after + 1)}`}`;
  }
  writeFileSync(DOC, `${doc.trimEnd()}\n`);
  console.error(`updated ${DOC}`);
}

const startedOn = machine();

async function main() {
  console.error(`machine: ${startedOn}`);
  console.error(`workload: ${parameters()}`);
  const results: Result[] = [];
  for (const scenario of params.scenarios as ('single' | 'cluster')[]) results.push(await runScenario(scenario));
  console.log(`\n${table(results)}\n`);
  for (const line of [summary(results), ...details(results)].filter(Boolean)) console.log(line);
  const bad = results.some((r) => r.violationCount || r.missing);
  if (bad) console.log('\n!!! EVENTS WERE LOST, DUPLICATED OR REORDERED: see above. !!!');
  if (params.write) writeDoc(results);
  process.exitCode = bad ? 1 : 0;
}

// A promise that can never settle (a process awaited after it died) must not end the run as a success.
process.on('beforeExit', () => {
  console.error('the benchmark stopped before it finished (nothing left to wait for)');
  process.exit(1);
});

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanup();
    process.exit(process.exitCode ?? 0);
  });
