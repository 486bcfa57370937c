import type { Redis } from 'ioredis';
import type { Bus } from '../../events/bus.ts';
import type { AppScope } from '../../lib/scope.ts';
import { publishPresence, type PresenceTracker } from './presence.tracker.ts';

const LAST_SEEN_SECONDS = 90 * 24 * 3600;

// Keys: `parley:presence:<app>:<user>`, a sorted set of the user's sockets scored by when each
// expires; `parley:presence:last:<app>:<user>`, when the last one closed; and one index of
// every socket, `parley:presence:sockets`, for the reaper. Nodes renew their sockets' scores
// (heartbeat); a node that dies stops renewing, and its sockets expire. A user's set itself
// outlives its newest score by KEY_GRACE TTLs, so the reaper still finds it there.
// (Keys are built inside REAP: one Redis, not Redis Cluster. Scores come from each node's
// clock: nodes need NTP-synchronised clocks, well within PRESENCE_TTL_MS.)

/** KEYS: user set, index. ARGV: socket, expiresAt, now, limit, index member, key grace. Returns the new count, or -1 over the limit. */
const CONNECT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[4]) then return -1 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2] + ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[5])
return n + 1`;

/** KEYS: user set, index. ARGV: socket, expiresAt, now, index member, key grace. Returns 1 if the user had no live socket before (a reaper took it). */
const RENEW = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local n = redis.call('ZCARD', KEYS[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2] + ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
if n == 0 then return 1 end
return 0`;

/** KEYS: user set, index, last seen. ARGV: socket, now, index member, now ISO. Returns sockets left, or -1 if it was not there. */
const DISCONNECT = `
redis.call('ZREM', KEYS[2], ARGV[3])
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return -1 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local n = redis.call('ZCARD', KEYS[1])
if n == 0 then redis.call('SET', KEYS[3], ARGV[4], 'EX', ${LAST_SEEN_SECONDS}) end
return n`;

/**
 * KEYS: index. ARGV: now, limit, key prefix, now ISO. Removes expired sockets (whose node
 * stopped renewing them) and returns "app\\tuser" for each user left with none. Atomic, so
 * of several reapers exactly one reports each user.
 */
const REAP = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local offline = {}
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  local app, user, socket = string.match(member, '^([^\\t]*)\\t([^\\t]*)\\t(.*)$')
  if app then
    local key = ARGV[3] .. app .. ':' .. user
    if redis.call('ZREM', key, socket) == 1 then
      redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
      if redis.call('ZCARD', key) == 0 then
        redis.call('SET', ARGV[3] .. 'last:' .. app .. ':' .. user, ARGV[4], 'EX', ${LAST_SEEN_SECONDS})
        table.insert(offline, app .. '\\t' .. user)
      end
    end
  end
end
return offline`;

type PresenceCommands = {
  presenceConnect(user: string, index: string, socket: string, expiresAt: number, now: number, limit: number, member: string, grace: number): Promise<number>;
  presenceRenew(user: string, index: string, socket: string, expiresAt: number, now: number, member: string, ttl: number): Promise<number>;
  presenceDisconnect(user: string, index: string, last: string, socket: string, now: number, member: string, nowIso: string): Promise<number>;
  presenceReap(index: string, now: number, limit: number, prefix: string, nowIso: string): Promise<string[]>;
};

const REAP_BATCH = 500;
/** A user's set expires this many TTLs after its newest socket would: the reapers come first. */
const KEY_GRACE = 10;

/**
 * Presence shared by every node through Redis. A socket counts for `ttlMs` after its node
 * last renewed it (every ttlMs / 3), so the sockets of a node that died stop counting within
 * `ttlMs`, and a reaper on every node publishes those users' "offline". While Redis is
 * unreachable, sockets are admitted uncounted and counted by the next renewal after it
 * returns.
 */
export function createRedisPresenceTracker(deps: { redis: Redis; bus: Bus; ttlMs: number; onError: (err: unknown) => void }): PresenceTracker {
  const { bus, ttlMs, onError } = deps;
  const redis = deps.redis as Redis & PresenceCommands;
  redis.defineCommand('presenceConnect', { numberOfKeys: 2, lua: CONNECT });
  redis.defineCommand('presenceRenew', { numberOfKeys: 2, lua: RENEW });
  redis.defineCommand('presenceDisconnect', { numberOfKeys: 3, lua: DISCONNECT });
  redis.defineCommand('presenceReap', { numberOfKeys: 1, lua: REAP });

  const prefix = 'parley:presence:';
  const index = `${prefix}sockets`;
  const userKey = (appId: string, userId: string) => `${prefix}${appId}:${userId}`;
  const lastKey = (appId: string, userId: string) => `${prefix}last:${appId}:${userId}`;
  const member = (appId: string, userId: string, socketId: string) => `${appId}\t${userId}\t${socketId}`;
  /** This node's sockets, renewed by the heartbeat. */
  const local = new Map<string, { scope: AppScope; userId: string }>();
  /** Disconnects under way, awaited on stop so that a shutting-down node's users go offline. */
  const pending = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>) => {
    pending.add(p);
    void p.finally(() => pending.delete(p)).catch(() => {});
    return p;
  };

  /** Renews this node's sockets; a user whose sockets a reaper had taken is online again, and says so. */
  async function renew() {
    if (local.size === 0) return;
    const now = Date.now();
    const sockets = [...local];
    const batch = redis.pipeline() as ReturnType<Redis['pipeline']> & { presenceRenew: (...args: unknown[]) => unknown };
    for (const [socketId, { scope, userId }] of sockets) {
      batch.presenceRenew(userKey(scope.appId, userId), index, socketId, now + ttlMs, now, member(scope.appId, userId, socketId), ttlMs * KEY_GRACE);
    }
    const results = (await batch.exec()) ?? [];
    results.forEach(([err, back], i) => {
      if (err) return onError(err);
      const { scope, userId } = sockets[i]![1];
      if (back === 1) publishPresence(bus, scope.appId, userId, true, null).catch(onError);
    });
  }

  async function reap() {
    for (;;) {
      const now = new Date();
      const offline = await redis.presenceReap(index, now.getTime(), REAP_BATCH, prefix, now.toISOString());
      await Promise.all(
        offline.map((entry) => {
          const [appId, userId] = entry.split('\t') as [string, string];
          return publishPresence(bus, appId, userId, false, now).catch(onError);
        }),
      );
      if (offline.length < REAP_BATCH) return; // (a full batch of offline users: more may be due)
    }
  }

  const timers = [
    setInterval(() => void renew().catch(onError), Math.max(100, Math.floor(ttlMs / 3))),
    setInterval(() => void reap().catch(onError), Math.max(100, Math.floor(ttlMs / 3))),
  ];
  for (const t of timers) t.unref();

  async function disconnect(scope: AppScope, userId: string, socketId: string) {
    local.delete(socketId);
    const now = new Date();
    const left = await redis.presenceDisconnect(
      userKey(scope.appId, userId),
      index,
      lastKey(scope.appId, userId),
      socketId,
      now.getTime(),
      member(scope.appId, userId, socketId),
      now.toISOString(),
    );
    if (left === 0) await publishPresence(bus, scope.appId, userId, false, now).catch(onError);
  }

  return {
    async connect(scope, userId, socketId, limit) {
      const now = Date.now();
      let count: number;
      try {
        count = await redis.presenceConnect(userKey(scope.appId, userId), index, socketId, now + ttlMs, now, limit, member(scope.appId, userId, socketId), ttlMs * KEY_GRACE);
      } catch (err) {
        // Redis away: admit the socket rather than refuse every client (the socket limit
        // cannot be checked meanwhile); the next renewal after Redis returns counts it.
        onError(err);
        local.set(socketId, { scope, userId });
        return true;
      }
      if (count < 0) return false;
      local.set(socketId, { scope, userId });
      if (count === 1) {
        const last = await redis.get(lastKey(scope.appId, userId)).catch((err: unknown) => void onError(err));
        publishPresence(bus, scope.appId, userId, true, last ? new Date(last) : null).catch(onError);
      }
      return true;
    },
    disconnect: (scope, userId, socketId) => track(disconnect(scope, userId, socketId)),
    async get(scope, userIds) {
      if (userIds.length === 0) return [];
      const now = Date.now();
      const batch = redis.pipeline();
      for (const id of userIds) batch.zcount(userKey(scope.appId, id), now, '+inf').get(lastKey(scope.appId, id));
      const results = (await batch.exec()) ?? [];
      return userIds.map((userId, i) => {
        const [[countErr, count], [lastErr, last]] = [results[2 * i]!, results[2 * i + 1]!];
        if (countErr || lastErr) throw countErr ?? lastErr;
        return { userId, online: Number(count) > 0, lastSeenAt: last ? new Date(String(last)) : null };
      });
    },
    /** Stops the timers, waits for disconnects under way, and takes this node's remaining sockets out. */
    async stop() {
      for (const t of timers) clearInterval(t);
      await Promise.allSettled([...pending]);
      const remaining = [...local];
      await Promise.allSettled(remaining.map(([socketId, { scope, userId }]) => disconnect(scope, userId, socketId)));
    },
  };
}
