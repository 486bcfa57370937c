import { encodeTime } from 'ulid';
import { TX_OPTIONS } from '../../db/client.ts';
import { Prisma, type PrismaClient } from '../../generated/prisma/client.ts';

export type BucketUnit = 'hour' | 'day';
/** Counts of one app in one bucket (peakSockets: the highest of its hours). */
export type AppBucketRow = {
  bucket: Date;
  appId: string;
  messages: number;
  webhookDeliveries: number;
  webhookAttempts: number;
  webhookAttemptsSucceeded: number;
  webhookDeadLetters: number;
  peakSockets: number;
};
export type Range = { from: Date; to: Date; unit: BucketUnit };
/** Whose usage: a tenant's, or (an app server asking) one app's of it. */
export type UsageScope = { tenantId: string; appId?: string };
/** A user active in an hour. */
export type ActiveRow = { tenantId: string; appId: string; userId: string; hour: Date };
export type SocketCount = { tenantId: string; appId: string; sockets: number };

/**
 * The smallest ULID of a millisecond: message and delivery ids are ULIDs made inside their
 * transaction, so an id range is a time range that the primary key already indexes (no index
 * of our own on the send path). ULIDs are [0-9A-Z] of one length: every collation orders them
 * as their time does.
 */
const ulidFloor = (at: Date) => `${encodeTime(at.getTime(), 10)}0000000000000000`;
const int = (v: unknown) => Number(v ?? 0);
/** `AND <column> = appId` when the scope is one app; nothing for a tenant. */
const appOnly = (column: string, { appId }: UsageScope) => (appId ? Prisma.sql`AND ${Prisma.raw(column)} = ${appId}` : Prisma.empty);

const HOUR_MS = 3600_000;
/** Hourly active-user rows are kept as long as an HOUR query reaches back (31 days of hours). */
export const ACTIVE_HOURS_KEPT_MS = 31 * 24 * HOUR_MS;
/** Daily active-user rows (DAY buckets and monthly actives) are kept 400 days. */
export const ACTIVE_DAYS_KEPT_MS = 400 * 24 * HOUR_MS;
type Tx = Prisma.TransactionClient;


/** Rolled-up counts (and app socket peaks) per bucket and app in [from, to). */
async function rolled(db: Tx, scope: UsageScope, { from, to, unit }: Range): Promise<AppBucketRow[]> {
  const rows = await db.$queryRaw<Record<string, unknown>[]>`
    SELECT date_trunc(${unit}, hour, 'UTC') AS bucket, app_id,
           sum(messages)::int AS messages, sum(webhook_deliveries)::int AS deliveries,
           sum(webhook_attempts)::int AS attempts, sum(webhook_attempts_succeeded)::int AS succeeded,
           sum(webhook_dead_letters)::int AS dead, max(peak_sockets)::int AS peak
    FROM usage_hour
    WHERE tenant_id = ${scope.tenantId} ${appOnly('app_id', scope)} AND hour >= ${from} AND hour < ${to}
    GROUP BY 1, 2`;
  return rows.map((r) => ({
    bucket: r.bucket as Date,
    appId: r.app_id as string,
    messages: int(r.messages),
    webhookDeliveries: int(r.deliveries),
    webhookAttempts: int(r.attempts),
    webhookAttemptsSucceeded: int(r.succeeded),
    webhookDeadLetters: int(r.dead),
    peakSockets: int(r.peak),
  }));
}

/**
 * The source rows past the watermark (`since`), counted like the rollup would: a few minutes of
 * rows while the worker keeps up, found by the same indexes.
 */
async function tail(db: Tx, scope: UsageScope, since: Date, { from, to, unit }: Range): Promise<AppBucketRow[]> {
  const { tenantId } = scope;
  const lo = ulidFloor(since);
  const messages = await db.$queryRaw<Record<string, unknown>[]>`
    SELECT date_trunc(${unit}, m.created_at, 'UTC') AS bucket, m.app_id, count(*)::int AS n
    FROM message m JOIN app a ON a.id = m.app_id
    WHERE m.id >= ${lo} AND a.tenant_id = ${tenantId} ${appOnly('m.app_id', scope)} AND m.created_at >= ${from} AND m.created_at < ${to}
    GROUP BY 1, 2`;
  const deliveries = await db.$queryRaw<Record<string, unknown>[]>`
    SELECT date_trunc(${unit}, d.created_at, 'UTC') AS bucket, d.app_id, count(*)::int AS n
    FROM webhook_delivery d JOIN app a ON a.id = d.app_id
    WHERE d.id >= ${`msg_${lo}`} AND a.tenant_id = ${tenantId} ${appOnly('d.app_id', scope)} AND d.created_at >= ${from} AND d.created_at < ${to}
    GROUP BY 1, 2`;
  const attempts = await db.$queryRaw<Record<string, unknown>[]>`
    SELECT date_trunc(${unit}, t.at, 'UTC') AS bucket, d.app_id, count(*)::int AS n,
           (count(*) FILTER (WHERE t.status BETWEEN 200 AND 299))::int AS ok
    FROM webhook_attempt t JOIN webhook_delivery d ON d.id = t.delivery_id JOIN app a ON a.id = d.app_id
    WHERE t.at >= ${since} AND a.tenant_id = ${tenantId} ${appOnly('d.app_id', scope)} AND t.at >= ${from} AND t.at < ${to}
    GROUP BY 1, 2`;
  const dead = await db.$queryRaw<Record<string, unknown>[]>`
    SELECT date_trunc(${unit}, d.failed_at, 'UTC') AS bucket, d.app_id, count(*)::int AS n
    FROM webhook_delivery d JOIN app a ON a.id = d.app_id
    WHERE d.status = 'FAILED' AND d.failed_at >= ${since} AND a.tenant_id = ${tenantId} ${appOnly('d.app_id', scope)}
      AND d.failed_at >= ${from} AND d.failed_at < ${to}
    GROUP BY 1, 2`;
  const zero = (bucket: Date, appId: string): AppBucketRow => ({
    bucket, appId, messages: 0, webhookDeliveries: 0, webhookAttempts: 0, webhookAttemptsSucceeded: 0, webhookDeadLetters: 0, peakSockets: 0,
  });
  return [
    ...messages.map((r) => ({ ...zero(r.bucket as Date, r.app_id as string), messages: int(r.n) })),
    ...deliveries.map((r) => ({ ...zero(r.bucket as Date, r.app_id as string), webhookDeliveries: int(r.n) })),
    ...attempts.map((r) => ({ ...zero(r.bucket as Date, r.app_id as string), webhookAttempts: int(r.n), webhookAttemptsSucceeded: int(r.ok) })),
    ...dead.map((r) => ({ ...zero(r.bucket as Date, r.app_id as string), webhookDeadLetters: int(r.n) })),
  ];
}

/** The tenant's own socket peak per bucket. */
async function tenantPeaks(db: Tx, tenantId: string, { from, to, unit }: Range) {
  const rows = await db.$queryRaw<{ bucket: Date; peak: unknown }[]>`
    SELECT date_trunc(${unit}, hour, 'UTC') AS bucket, max(peak_sockets)::int AS peak
    FROM usage_tenant_hour WHERE tenant_id = ${tenantId} AND hour >= ${from} AND hour < ${to}
    GROUP BY 1`;
  return rows.map((r) => ({ bucket: r.bucket, peak: int(r.peak) }));
}

/**
 * Distinct active users per bucket, over the whole range, and per app: HOUR buckets from the
 * hourly rows, DAY buckets from the daily ones (a day's row per user, not 24).
 */
async function activeUsers(db: Tx, scope: UsageScope, { from, to, unit }: Range) {
  const [table, column] = unit === 'hour' ? ['usage_active_user', 'hour'] : ['usage_active_user_day', 'day'];
  const where = Prisma.sql`WHERE tenant_id = ${scope.tenantId} ${appOnly('app_id', scope)} AND ${Prisma.raw(column)} >= ${from} AND ${Prisma.raw(column)} < ${to}`;
  const perBucket = await db.$queryRaw<{ bucket: Date; n: unknown }[]>`
    SELECT date_trunc(${unit}, ${Prisma.raw(column)}, 'UTC') AS bucket, count(DISTINCT user_id)::int AS n
    FROM ${Prisma.raw(table)} ${where} GROUP BY 1`;
  const total = await db.$queryRaw<{ n: unknown }[]>`SELECT count(DISTINCT user_id)::int AS n FROM ${Prisma.raw(table)} ${where}`;
  const perApp = await db.$queryRaw<{ app_id: string; n: unknown }[]>`
    SELECT app_id, count(DISTINCT user_id)::int AS n FROM ${Prisma.raw(table)} ${where} GROUP BY 1`;
  return {
    perBucket: perBucket.map((r) => ({ bucket: r.bucket, users: int(r.n) })),
    total: int(total[0]?.n),
    perApp: new Map(perApp.map((r) => [r.app_id, int(r.n)])),
  };
}

/**
 * Usage: hourly counters per app (usage_hour), the tenant's own socket peaks, active users, and
 * the rollup that folds the source tables (message, webhook_delivery, webhook_attempt) into
 * usage_hour. Every source row falls in exactly one rollup window, by a key that only grows
 * past the watermark once its transaction has long committed (see `rollUp`): rows before the
 * watermark are read from usage_hour, rows after it from the source tables (`read`).
 */
export function createUsageStore(prisma: PrismaClient) {
  return {
    tenantExists: async (tenantId: string) => (await prisma.tenant.count({ where: { id: tenantId } })) > 0,

    appsOf: ({ tenantId, appId }: UsageScope) =>
      prisma.app.findMany({
        where: appId ? { tenantId, id: appId } : { tenantId },
        select: { id: true, name: true },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      }),

    tenantNames: (ids: string[]) => prisma.tenant.findMany({ where: { id: { in: ids } }, select: { id: true, name: true } }),

    /**
     * Users active in these hours, in one statement (idempotent): the hourly rows and the
     * daily ones together. The caller bounds the batch.
     */
    recordActive: (rows: ActiveRow[]) =>
      prisma.$executeRaw`
        WITH a AS (
          SELECT * FROM unnest(${rows.map((r) => r.hour.toISOString())}::timestamptz[], ${rows.map((r) => r.appId)}::text[],
                               ${rows.map((r) => r.userId)}::text[], ${rows.map((r) => r.tenantId)}::text[]) AS a(hour, app_id, user_id, tenant_id)
        ), hourly AS (
          INSERT INTO usage_active_user (hour, app_id, user_id, tenant_id) SELECT hour, app_id, user_id, tenant_id FROM a ON CONFLICT DO NOTHING
        )
        INSERT INTO usage_active_user_day (day, app_id, user_id, tenant_id)
        SELECT DISTINCT date_trunc('day', hour, 'UTC'), app_id, user_id, tenant_id FROM a
        ON CONFLICT DO NOTHING`,

    /** Raises the hour's socket peaks of these apps and tenants to at least these counts (idempotent). */
    async raisePeaks(hour: Date, apps: SocketCount[], tenants: { tenantId: string; sockets: number }[]) {
      for (const a of apps) {
        await prisma.$executeRaw`
          INSERT INTO usage_hour (app_id, hour, tenant_id, peak_sockets) VALUES (${a.appId}, ${hour}, ${a.tenantId}, ${a.sockets})
          ON CONFLICT (app_id, hour) DO UPDATE SET peak_sockets = GREATEST(usage_hour.peak_sockets, excluded.peak_sockets)`;
      }
      for (const t of tenants) {
        await prisma.$executeRaw`
          INSERT INTO usage_tenant_hour (tenant_id, hour, peak_sockets) VALUES (${t.tenantId}, ${hour}, ${t.sockets})
          ON CONFLICT (tenant_id, hour) DO UPDATE SET peak_sockets = GREATEST(usage_tenant_hour.peak_sockets, excluded.peak_sockets)`;
      }
    },

    /**
     * One pass of the rollup: folds the source rows of [watermark, until) into usage_hour and
     * moves the watermark, in one transaction, so each row is added exactly once. `until` is
     * at most `now - settleMs` (a row's key is taken inside its transaction, which commits
     * within TX_OPTIONS.timeout; nodes' clocks differ by less) and `maxSpanMs` past the
     * watermark (a long catch-up goes in bounded steps). A pass that finds the watermark's row
     * locked by another worker's pass skips (SKIP LOCKED: no waiting out a long step under
     * the transaction timeout). Returns the window; null when there was nothing to roll;
     * 'busy' when another pass holds it.
     */
    rollUp: ({ settleMs, maxSpanMs }: { settleMs: number; maxSpanMs: number }) =>
      prisma.$transaction(async (tx) => {
        const [state] = await tx.$queryRaw<{ rolled_until: Date }[]>`SELECT rolled_until FROM usage_rollup WHERE id = 1 FOR UPDATE SKIP LOCKED`;
        if (!state) return 'busy' as const;
        const from = state.rolled_until;
        const until = new Date(Math.min(Date.now() - settleMs, from.getTime() + maxSpanMs));
        if (until <= from) return null;
        const [lo, hi] = [ulidFloor(from), ulidFloor(until)];
        await tx.$executeRaw`
          INSERT INTO usage_hour (app_id, hour, tenant_id, messages)
          SELECT m.app_id, date_trunc('hour', m.created_at, 'UTC'), a.tenant_id, count(*)::int
          FROM message m JOIN app a ON a.id = m.app_id
          WHERE m.id >= ${lo} AND m.id < ${hi}
          GROUP BY 1, 2, 3
          ON CONFLICT (app_id, hour) DO UPDATE SET messages = usage_hour.messages + excluded.messages`;
        // Senders are active users (an app server sending asUserId included), durably: hourly and daily.
        await tx.$executeRaw`
          WITH a AS (
            SELECT DISTINCT date_trunc('hour', m.created_at, 'UTC') AS hour, m.app_id, m.sender_id AS user_id, a.tenant_id
            FROM message m JOIN app a ON a.id = m.app_id
            WHERE m.id >= ${lo} AND m.id < ${hi}
          ), hourly AS (
            INSERT INTO usage_active_user (hour, app_id, user_id, tenant_id) SELECT hour, app_id, user_id, tenant_id FROM a ON CONFLICT DO NOTHING
          )
          INSERT INTO usage_active_user_day (day, app_id, user_id, tenant_id)
          SELECT DISTINCT date_trunc('day', hour, 'UTC'), app_id, user_id, tenant_id FROM a
          ON CONFLICT DO NOTHING`;
        await tx.$executeRaw`
          INSERT INTO usage_hour (app_id, hour, tenant_id, webhook_deliveries)
          SELECT d.app_id, date_trunc('hour', d.created_at, 'UTC'), a.tenant_id, count(*)::int
          FROM webhook_delivery d JOIN app a ON a.id = d.app_id
          WHERE d.id >= ${`msg_${lo}`} AND d.id < ${`msg_${hi}`}
          GROUP BY 1, 2, 3
          ON CONFLICT (app_id, hour) DO UPDATE SET webhook_deliveries = usage_hour.webhook_deliveries + excluded.webhook_deliveries`;
        await tx.$executeRaw`
          INSERT INTO usage_hour (app_id, hour, tenant_id, webhook_attempts, webhook_attempts_succeeded)
          SELECT d.app_id, date_trunc('hour', t.at, 'UTC'), a.tenant_id, count(*)::int,
                 (count(*) FILTER (WHERE t.status BETWEEN 200 AND 299))::int
          FROM webhook_attempt t JOIN webhook_delivery d ON d.id = t.delivery_id JOIN app a ON a.id = d.app_id
          WHERE t.at >= ${from} AND t.at < ${until}
          GROUP BY 1, 2, 3
          ON CONFLICT (app_id, hour) DO UPDATE SET
            webhook_attempts = usage_hour.webhook_attempts + excluded.webhook_attempts,
            webhook_attempts_succeeded = usage_hour.webhook_attempts_succeeded + excluded.webhook_attempts_succeeded`;
        await tx.$executeRaw`
          INSERT INTO usage_hour (app_id, hour, tenant_id, webhook_dead_letters)
          SELECT d.app_id, date_trunc('hour', d.failed_at, 'UTC'), a.tenant_id, count(*)::int
          FROM webhook_delivery d JOIN app a ON a.id = d.app_id
          WHERE d.status = 'FAILED' AND d.failed_at >= ${from} AND d.failed_at < ${until}
          GROUP BY 1, 2, 3
          ON CONFLICT (app_id, hour) DO UPDATE SET webhook_dead_letters = usage_hour.webhook_dead_letters + excluded.webhook_dead_letters`;
        await tx.$executeRaw`UPDATE usage_rollup SET rolled_until = ${until} WHERE id = 1`;
        return { from, until };
      }, TX_OPTIONS),

    /** Drops active-user rows past their retention (the hourly ones by their key's leading hour). */
    async pruneActive(now = Date.now()) {
      const hours = await prisma.$executeRaw`DELETE FROM usage_active_user WHERE hour < ${new Date(now - ACTIVE_HOURS_KEPT_MS - HOUR_MS)}`;
      const days = await prisma.$executeRaw`DELETE FROM usage_active_user_day WHERE day < ${new Date(now - ACTIVE_DAYS_KEPT_MS - 24 * HOUR_MS)}`;
      return hours + days;
    },

    /**
     * Everything a usage answer counts, read in ONE snapshot (REPEATABLE READ): the watermark,
     * the rolled-up rows before it and the source rows after it. Read apart, a rollup that
     * commits in between moves rows from the tail into usage_hour and they count twice (or,
     * the other way round, not at all). On PGlite, one connection, transactions run one at a time anyway.
     * `activeUsers: false` skips the distinct counts (the dashboard's tenant list needs none).
     */
    read: (scope: UsageScope, range: Range, want: { activeUsers: boolean }) =>
      prisma.$transaction(async (tx) => {
        await tx.$executeRaw`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`;
        const [state] = await tx.$queryRaw<{ rolled_until: Date }[]>`SELECT rolled_until FROM usage_rollup WHERE id = 1`;
        const watermark = state!.rolled_until;
        return {
          rolled: await rolled(tx, scope, range),
          tail: watermark < range.to ? await tail(tx, scope, watermark, range) : [],
          // An app's peak is its own rows' (rolled); the tenant's, the tenant's own samples.
          tenantPeaks: scope.appId ? [] : await tenantPeaks(tx, scope.tenantId, range),
          active: want.activeUsers ? await activeUsers(tx, scope, range) : { perBucket: [], total: 0, perApp: new Map<string, number>() },
        };
      }, TX_OPTIONS),
  };
}
export type UsageStore = ReturnType<typeof createUsageStore>;
