import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { AppScope } from '../../lib/scope.ts';
import type { SocketCount } from './usage.store.ts';

/**
 * Open sockets per app: this node's, counted as they open and close, and the cluster's. With
 * Redis each node publishes its counts (`publish`, from the sampler) as one hash that expires
 * a few intervals later, listed in a sorted set scored by that deadline: a node that stops
 * publishing drops out of the sum by then. Without Redis this node is the cluster.
 */
export type SocketCounts = {
  open(scope: AppScope): void;
  close(scope: AppScope): void;
  /** Publishes this node's counts for the others (Redis); nothing in process. */
  publish(): Promise<void>;
  /** Open sockets per app, every node together (apps with none left out). */
  cluster(): Promise<SocketCount[]>;
  /** This node's open sockets per app (what `cluster` falls back to when Redis fails). */
  local(): SocketCount[];
  /** Takes this node out of the shared sum (shutdown). */
  stop(): Promise<void>;
};

const NODES = 'parley:usage:nodes';
const nodeKey = (node: string) => `parley:usage:sockets:${node}`;

function createLocalCounts() {
  const apps = new Map<string, SocketCount>();
  return {
    open(scope: AppScope) {
      const entry = apps.get(scope.appId) ?? { tenantId: scope.tenantId, appId: scope.appId, sockets: 0 };
      entry.sockets += 1;
      apps.set(scope.appId, entry);
    },
    close(scope: AppScope) {
      const entry = apps.get(scope.appId);
      if (!entry) return;
      entry.sockets -= 1;
      if (entry.sockets <= 0) apps.delete(scope.appId);
    },
    list: (): SocketCount[] => [...apps.values()].map((e) => ({ ...e })),
  };
}

export function createMemorySocketCounts(): SocketCounts {
  const local = createLocalCounts();
  return { open: local.open, close: local.close, publish: async () => {}, cluster: async () => local.list(), local: local.list, stop: async () => {} };
}

/** `ttlMs`: how long a node's published counts hold without a new publish (a few sample intervals). */
export function createRedisSocketCounts({ redis, ttlMs }: { redis: Redis; ttlMs: number }): SocketCounts {
  const local = createLocalCounts();
  const node = randomUUID();
  const field = (c: SocketCount) => `${c.tenantId}\t${c.appId}`;

  return {
    open: local.open,
    close: local.close,
    local: local.list,
    async publish() {
      const now = Date.now();
      const counts = local.list();
      const batch = redis.multi().del(nodeKey(node));
      if (counts.length > 0) {
        batch.hset(nodeKey(node), Object.fromEntries(counts.map((c) => [field(c), String(c.sockets)])));
        batch.pexpire(nodeKey(node), ttlMs);
      }
      // The list expires too: once every node has stopped, nothing is left behind.
      await batch.zadd(NODES, now + ttlMs, node).zremrangebyscore(NODES, '-inf', now).pexpire(NODES, ttlMs).exec();
    },
    async cluster() {
      // This node's own counts are read live; the others' as they last published them.
      const nodes = (await redis.zrangebyscore(NODES, Date.now(), '+inf')).filter((n) => n !== node);
      const batch = redis.pipeline();
      for (const n of nodes) batch.hgetall(nodeKey(n));
      const results = nodes.length > 0 ? ((await batch.exec()) ?? []) : [];
      const sum = new Map<string, SocketCount>();
      const add = (c: SocketCount) => {
        const entry = sum.get(field(c)) ?? { ...c, sockets: 0 };
        entry.sockets += c.sockets;
        sum.set(field(c), entry);
      };
      for (const [err, hash] of results) {
        if (err) throw err;
        for (const [key, value] of Object.entries(hash as Record<string, string>)) {
          const [tenantId, appId] = key.split('\t') as [string, string];
          add({ tenantId, appId, sockets: Number(value) });
        }
      }
      local.list().forEach(add);
      return [...sum.values()].filter((c) => c.sockets > 0);
    },
    async stop() {
      await redis.multi().del(nodeKey(node)).zrem(NODES, node).exec();
    },
  };
}
