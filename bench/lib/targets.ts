/**
 * The servers `npm run bench` measures, each its own process: the raw `ws` and Yoga
 * baselines, and Parley on its embedded default (PGlite in a scratch DATA_DIR) or on
 * PostgreSQL (a scratch database) + Redis (its own redis-server), seeded through the API.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createDatabase } from '../../test/helpers/databases.ts';
import { startRedis } from '../../test/helpers/redis-server.ts';
import { children, later, startServer, type ServerProcess } from './processes.ts';
import type { Protocol, PublishConversation, PublishTarget, SocketSpec } from './wire.ts';

export const TARGETS = ['raw-ws', 'yoga', 'parley-embedded', 'parley-postgres'] as const;
export type TargetName = (typeof TARGETS)[number];

/** Conversations × members each, spread over `users` users (Parley; a user is in several conversations when users < conversations × members). */
export type Layout = { conversations: number; members: number; users: number };

export type StoreCounters = { commits: number; rollbacks: number; inserted: number; updated: number; deleted: number; fetched: number };

export type Seeded = { conversations: PublishConversation[]; sockets: SocketSpec[] };

export type Target = {
  name: TargetName;
  server: ServerProcess;
  protocol: Protocol;
  wsUrl: string;
  publish: PublishTarget;
  /** Parley subscriptions resume by afterSeq after a close; the baselines have no history. */
  resume: boolean;
  /** Other processes doing this target's work (PostgreSQL backends of its database, redis-server). */
  auxPids: () => Promise<number[]>;
  /** Only for parley-postgres: the scratch database (pgbench runs against it). */
  databaseUrl?: string;
  /** Only for parley-postgres: the database's activity counters (pg_stat_database), to tell what one send costs the store. */
  storeCounters?: () => Promise<StoreCounters>;
  seed(layout: Layout, log: (msg: string) => void): Promise<Seeded>;
  stop(): Promise<void>;
};

const listening = async (port: number) => {
  const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'HEAD' }).catch(() => null);
  return res !== null;
};

const fakeId = (prefix: string, i: number) => `${prefix}_${String(i).padStart(26, '0')}`;

/** Baselines have no users: conversations are ids, sockets just name one. */
function layoutOnly(layout: Layout): Seeded {
  const conversations = Array.from({ length: layout.conversations }, (_, c) => ({ id: fakeId('cnv', c), tokens: [] }));
  const sockets = conversations.flatMap((conv, c) => Array.from({ length: layout.members }, () => ({ conv: c, conversationId: conv.id })));
  return { conversations, sockets };
}

export async function startTarget(name: TargetName, options: { adminDatabaseUrl: string; parleyEnv: Record<string, string> }): Promise<Target> {
  const noAux = async (): Promise<number[]> => [];
  if (name === 'raw-ws' || name === 'yoga') {
    const script = name === 'raw-ws' ? 'bench/baselines/raw-ws-server.ts' : 'bench/baselines/yoga-server.ts';
    const server = await startServer([script], {}, listening);
    const stop = later(() => server.stop());
    const base = `127.0.0.1:${server.port}`;
    return {
      name,
      server,
      protocol: name === 'raw-ws' ? 'raw' : 'graphql-ws',
      wsUrl: name === 'raw-ws' ? `ws://${base}/` : `ws://${base}/graphql`,
      publish: { kind: name === 'raw-ws' ? 'raw' : 'yoga', url: `http://${base}` },
      resume: false,
      auxPids: noAux,
      seed: async (layout) => layoutOnly(layout),
      stop,
    };
  }

  const stops: (() => Promise<void>)[] = [];
  const env: Record<string, string> = { ...options.parleyEnv, ADMIN_TOKEN: `bench-admin-${randomBytes(12).toString('hex')}` };
  let auxPids: () => Promise<number[]> = noAux;
  let databaseUrl: string | undefined;
  let storeCounters: (() => Promise<StoreCounters>) | undefined;
  if (name === 'parley-embedded') {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'parley-bench-'));
    stops.push(later(async () => rmSync(dir, { recursive: true, force: true })));
    env.DATA_DIR = dir;
  } else {
    const database = await createDatabase(options.adminDatabaseUrl, 'bench');
    stops.push(later(database.drop));
    const redis = await startRedis();
    children.add(redis.process());
    stops.push(later(redis.stop));
    env.DATABASE_URL = databaseUrl = database.url;
    env.REDIS_URL = redis.url;
    const dbName = new URL(database.url).pathname.slice(1);
    const adminQuery = async <R extends object>(sql: string): Promise<R[]> => {
      const client = new pg.Client({ connectionString: options.adminDatabaseUrl });
      await client.connect();
      try {
        return (await client.query<R>(sql, [dbName])).rows;
      } finally {
        await client.end();
      }
    };
    auxPids = async () => {
      const rows = await adminQuery<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()');
      return [redis.process().pid!, ...rows.map((r) => r.pid)];
    };
    storeCounters = async () => {
      // Statistics reach pg_stat_database when a backend reports them (at most every second, or when idle).
      const [row] = await adminQuery<Record<keyof StoreCounters, string>>(
        'SELECT xact_commit AS commits, xact_rollback AS rollbacks, tup_inserted AS inserted, tup_updated AS updated, tup_deleted AS deleted, tup_fetched AS fetched FROM pg_stat_database WHERE datname = $1',
      );
      return Object.fromEntries(Object.entries(row ?? {}).map(([k, v]) => [k, Number(v)])) as StoreCounters;
    };
  }
  const server = await startServer(['src/main.ts'], env, async (port) => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200);
  stops.push(later(() => server.stop()));
  const base = `127.0.0.1:${server.port}`;
  return {
    name,
    server,
    protocol: 'graphql-ws',
    wsUrl: `ws://${base}/graphql`,
    publish: { kind: 'parley', url: `http://${base}` },
    resume: true,
    auxPids,
    databaseUrl,
    storeCounters,
    seed: (layout, log) => seedParley(`http://${base}/graphql`, env.ADMIN_TOKEN!, layout, log),
    stop: async () => {
      for (const stop of stops.reverse()) await stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Seeding Parley through its API

type Cred = { admin: string } | { apiKey: string } | { token: string };
const headers = (cred: Cred): Record<string, string> =>
  'admin' in cred ? { authorization: `Bearer ${cred.admin}` } : 'apiKey' in cred ? { 'x-api-key': cred.apiKey } : { authorization: `Bearer ${cred.token}` };

async function must<T>(url: string, query: string, variables: Record<string, unknown>, cred: Cred): Promise<T> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers(cred) }, body: JSON.stringify({ query, variables }) });
  const text = await res.text();
  const parsed = JSON.parse(text) as { data?: T; errors?: unknown[] };
  if (parsed.errors?.length || !parsed.data) throw new Error(`seeding: ${text.slice(0, 500)}`);
  return parsed.data;
}

async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/** Limits far above the load, so that the bench measures the fanout, not the tenant's plan. */
const BENCH_LIMITS = {
  requestsPerMinute: 1_000_000_000,
  messagesPerSecondPerUser: 1_000_000,
  maxSocketsPerUser: 100_000,
  maxMembersPerConversation: 100_000,
  wsMessagesPerSecond: 100_000,
};

/**
 * operator → tenant (ENTERPRISE, limits raised) → app → API key → users with tokens →
 * conversations (GROUP, created by their first member). Conversation c holds users
 * (c·members + j) mod users, j < members: distinct within a conversation as long as
 * members ≤ users.
 */
async function seedParley(url: string, adminToken: string, layout: Layout, log: (msg: string) => void): Promise<Seeded> {
  const admin = { admin: adminToken };
  const { createTenant } = await must<{ createTenant: { id: string } }>(url, 'mutation BenchTenant($input: CreateTenantInput!) { createTenant(input: $input) { id } }', { input: { name: 'bench', plan: 'ENTERPRISE' } }, admin);
  await must(url, 'mutation BenchLimits($id: ID!, $input: UpdateTenantInput!) { updateTenant(id: $id, input: $input) { id } }', { id: createTenant.id, input: { limits: BENCH_LIMITS } }, admin);
  const { createApp } = await must<{ createApp: { id: string } }>(url, 'mutation BenchApp($input: CreateAppInput!) { createApp(input: $input) { id } }', { input: { tenantId: createTenant.id, name: 'bench' } }, admin);
  const { createApiKey } = await must<{ createApiKey: { key: string } }>(url, 'mutation BenchKey($appId: ID!) { createApiKey(appId: $appId) { key } }', { appId: createApp.id }, admin);
  const app = { apiKey: createApiKey.key };
  const userCount = Math.min(layout.users, layout.conversations * layout.members);
  if (layout.members > userCount) throw new Error(`${layout.members} members per conversation need at least as many users (--users)`);
  log(`seeding ${userCount} users`);
  const users = await pool(
    Array.from({ length: userCount }, (_, i) => i),
    8,
    async (i) => {
      const { upsertUser } = await must<{ upsertUser: { id: string } }>(url, 'mutation BenchUser($input: UpsertUserInput!) { upsertUser(input: $input) { id } }', { input: { externalId: `u${i}`, displayName: `User ${i}` } }, app);
      const { createUserToken } = await must<{ createUserToken: { token: string } }>(url, 'mutation BenchToken($input: CreateUserTokenInput!) { createUserToken(input: $input) { token } }', { input: { userId: upsertUser.id, ttlSeconds: 86_400 } }, app);
      return { id: upsertUser.id, token: createUserToken.token };
    },
  );
  log(`seeding ${layout.conversations} conversations × ${layout.members} members`);
  const conversations = await pool(
    Array.from({ length: layout.conversations }, (_, c) => c),
    4,
    async (c) => {
      const members = Array.from({ length: layout.members }, (_, j) => users[(c * layout.members + j) % userCount]!);
      const [owner, ...others] = members;
      const { createConversation } = await must<{ createConversation: { id: string } }>(
        url,
        'mutation BenchConversation($input: CreateConversationInput!) { createConversation(input: $input) { id } }',
        { input: { kind: 'GROUP', title: `bench ${c}`, memberIds: others.slice(0, 999).map((u) => u.id) } },
        { token: owner!.token },
      );
      for (let from = 999; from < others.length; from += 1000) {
        await must(url, 'mutation BenchAdd($c: ID!, $u: [ID!]!) { addMembers(conversationId: $c, userIds: $u, role: MEMBER) { id } }', { c: createConversation.id, u: others.slice(from, from + 1000).map((u) => u.id) }, { token: owner!.token });
      }
      return { id: createConversation.id, members };
    },
  );
  return {
    conversations: conversations.map((c) => ({ id: c.id, tokens: c.members.map((m) => m.token) })),
    sockets: conversations.flatMap((c, i) => c.members.map((m) => ({ conv: i, conversationId: c.id, token: m.token }))),
  };
}
