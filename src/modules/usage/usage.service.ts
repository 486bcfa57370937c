import { badInput, notFound } from '../../lib/errors.ts';
import type { AppScope } from '../../lib/scope.ts';
import { createActivityRecorder } from './activity-recorder.ts';
import type { SocketCounts } from './socket-counts.ts';
import { startUsageSampler } from './usage-sampler.ts';
import type { AppBucketRow, BucketUnit, UsageScope, UsageStore } from './usage.store.ts';

export type Granularity = 'HOUR' | 'DAY';
export type UsageCounts = Omit<AppBucketRow, 'bucket' | 'appId'>;
export type UsageBucket = UsageCounts & { start: Date; activeUsers: number };
export type UsageTotals = UsageCounts & { monthlyActiveUsers: number; webhookSuccessRate: number | null };
export type TenantUsage = {
  tenantId: string;
  from: Date;
  to: Date;
  granularity: Granularity;
  totals: UsageTotals;
  buckets: UsageBucket[];
  apps: { appId: string; name: string; totals: UsageTotals; currentSockets: number }[];
  currentSockets: number;
};
/** A socket's caller, as the WebSocket layer knows it. */
export type SocketHolder = { kind: 'user'; scope: AppScope; userId: string } | { kind: 'app'; scope: AppScope };

const HOUR = 3600_000;
const GRANULARITY: Record<Granularity, { unit: BucketUnit; ms: number; defaultBuckets: number; maxBuckets: number }> = {
  HOUR: { unit: 'hour', ms: HOUR, defaultBuckets: 48, maxBuckets: 31 * 24 },
  DAY: { unit: 'day', ms: 24 * HOUR, defaultBuckets: 30, maxBuckets: 366 },
};
/** The rollup leaves the newest rows this long (their transactions may not have committed yet). */
export const ROLLUP_SETTLE_MS = 120_000;
/** One rollup step covers at most this much (a long catch-up goes in bounded transactions). */
const ROLLUP_MAX_SPAN_MS = 6 * HOUR;
/** ...and less when steps run slow: a step should stay well under TX_OPTIONS.timeout (30 s). */
const ROLLUP_MIN_SPAN_MS = 5 * 60_000;
const ROLLUP_SLOW_STEP_MS = 5_000;

const zeroCounts = (): UsageCounts => ({
  messages: 0,
  webhookDeliveries: 0,
  webhookAttempts: 0,
  webhookAttemptsSucceeded: 0,
  webhookDeadLetters: 0,
  peakSockets: 0,
});
function add(into: UsageCounts, row: UsageCounts) {
  into.messages += row.messages;
  into.webhookDeliveries += row.webhookDeliveries;
  into.webhookAttempts += row.webhookAttempts;
  into.webhookAttemptsSucceeded += row.webhookAttemptsSucceeded;
  into.webhookDeadLetters += row.webhookDeadLetters;
  into.peakSockets = Math.max(into.peakSockets, row.peakSockets);
}
const totalsOf = (counts: UsageCounts, monthlyActiveUsers: number): UsageTotals => ({
  ...counts,
  monthlyActiveUsers,
  webhookSuccessRate: counts.webhookAttempts > 0 ? counts.webhookAttemptsSucceeded / counts.webhookAttempts : null,
});

/**
 * Usage per tenant and app, for the operator's billing and dashboard and the tenant's own app
 * servers. Counts come from the store (durable): hourly rollups plus the rows past the rollup's
 * watermark. Sockets are counted live (socket-counts.ts) and sampled into hourly peaks.
 */
export function createUsageService(deps: { store: UsageStore; counts: SocketCounts; sampleMs: number; onError: (err: unknown) => void }) {
  const { store, counts, onError } = deps;
  const activity = createActivityRecorder({ store, onError });
  /** Users holding sockets on this node, with how many. */
  const holders = new Map<string, { scope: AppScope; userId: string; sockets: number }>();
  /** The cluster's socket counts; this node's alone (logged) when Redis cannot be read. */
  const cluster = () =>
    counts.cluster().catch((err: unknown) => {
      onError(err);
      return counts.local();
    });
  const sampler = startUsageSampler({ counts, cluster, store, activity, holders: () => holders.values(), intervalMs: deps.sampleMs, onError });
  let stopped = false;
  let prunedAt = 0;
  /** The rollup's step span: halved after a slow step, doubled (up to the max) after a quick one. */
  let span = ROLLUP_MAX_SPAN_MS;

  /** [from, to) widened to whole UTC buckets; the defaults end with the bucket under way. */
  function rangeOf(args: { from?: Date | null; to?: Date | null; granularity: Granularity }) {
    const g = GRANULARITY[args.granularity];
    if (args.from && args.to && args.from >= args.to) throw badInput([{ path: 'from', message: 'Must be before to' }]);
    const to = Math.ceil((args.to ?? new Date()).getTime() / g.ms) * g.ms;
    const from = args.from ? Math.floor(args.from.getTime() / g.ms) * g.ms : to - g.defaultBuckets * g.ms;
    if (from >= to) throw badInput([{ path: 'from', message: 'Must be before to' }]);
    if ((to - from) / g.ms > g.maxBuckets) {
      throw badInput([{ path: 'to', message: `At most ${g.maxBuckets} buckets of ${g.unit} (${args.granularity}) per query` }]);
    }
    return { from: new Date(from), to: new Date(to), unit: g.unit, ms: g.ms };
  }

  return {
    /** An authenticated request of an end user (a row per user per hour per node, at most). */
    requestMade(scope: AppScope, userId: string) {
      activity.record(scope, userId);
    },

    socketOpened(holder: SocketHolder) {
      counts.open(holder.scope);
      if (holder.kind !== 'user') return;
      const key = `${holder.scope.appId}\t${holder.userId}`;
      const entry = holders.get(key) ?? { scope: holder.scope, userId: holder.userId, sockets: 0 };
      entry.sockets += 1;
      holders.set(key, entry);
      activity.record(holder.scope, holder.userId);
    },

    socketClosed(holder: SocketHolder) {
      counts.close(holder.scope);
      if (holder.kind !== 'user') return;
      const key = `${holder.scope.appId}\t${holder.userId}`;
      const entry = holders.get(key);
      if (entry && --entry.sockets <= 0) holders.delete(key);
    },

    /**
     * A tenant's usage, or one app's (`scope.appId`: an app server sees its own app only, its
     * tenant-wide figures and sibling apps are not its business). `activeUsers: false` leaves
     * the distinct-user counts at 0 and skips their queries (nobody asked for them).
     */
    async tenantUsage(
      scope: UsageScope,
      args: { from?: Date | null; to?: Date | null; granularity: Granularity },
      want: { activeUsers: boolean } = { activeUsers: true },
    ): Promise<TenantUsage> {
      const { tenantId } = scope;
      const range = rangeOf(args);
      if (!(await store.tenantExists(tenantId))) throw notFound('Tenant');
      const [apps, { rolled, tail, tenantPeaks, active }, sockets] = await Promise.all([store.appsOf(scope), store.read(scope, range, want), cluster()]);

      const buckets = new Map<number, UsageBucket>();
      for (let t = range.from.getTime(); t < range.to.getTime(); t += range.ms) {
        buckets.set(t, { start: new Date(t), activeUsers: 0, ...zeroCounts() });
      }
      const perApp = new Map(apps.map((a) => [a.id, zeroCounts()]));
      for (const row of [...rolled, ...tail]) {
        const bucket = buckets.get(row.bucket.getTime());
        if (bucket) add(bucket, row);
        const app = perApp.get(row.appId);
        if (app) add(app, row);
      }
      // The tenant's own peak: all its apps' sockets at one moment (at least any one app's).
      for (const { bucket, peak } of tenantPeaks) {
        const b = buckets.get(bucket.getTime());
        if (b) b.peakSockets = Math.max(b.peakSockets, peak);
      }
      for (const { bucket, users } of active.perBucket) {
        const b = buckets.get(bucket.getTime());
        if (b) b.activeUsers = users;
      }
      const total = zeroCounts();
      for (const b of buckets.values()) add(total, b);
      const current = new Map(sockets.filter((s) => s.tenantId === tenantId && (!scope.appId || s.appId === scope.appId)).map((s) => [s.appId, s.sockets]));

      return {
        tenantId,
        from: range.from,
        to: range.to,
        granularity: args.granularity,
        totals: totalsOf(total, active.total),
        buckets: [...buckets.values()],
        apps: apps.map((a) => ({
          appId: a.id,
          name: a.name,
          totals: totalsOf(perApp.get(a.id)!, active.perApp.get(a.id) ?? 0),
          currentSockets: current.get(a.id) ?? 0,
        })),
        currentSockets: [...current.values()].reduce((n, s) => n + s, 0),
      };
    },

    /** Open sockets now, cluster-wide, per tenant that has any (most first). */
    async liveConnections() {
      const perTenant = new Map<string, number>();
      for (const s of await cluster()) perTenant.set(s.tenantId, (perTenant.get(s.tenantId) ?? 0) + s.sockets);
      const names = new Map((await store.tenantNames([...perTenant.keys()])).map((t) => [t.id, t.name]));
      const tenants = [...perTenant]
        .map(([tenantId, sockets]) => ({ tenantId, name: names.get(tenantId) ?? '', sockets }))
        .sort((a, b) => b.sockets - a.sockets || a.name.localeCompare(b.name));
      return { total: tenants.reduce((n, t) => n + t.sockets, 0), tenants };
    },

    /**
     * Rolls up everything settled (worker; tests pass a shorter settle), in steps, until the
     * settled edge, another worker's pass (busy) or stop(). About once an hour it also prunes
     * active-user rows past their retention. Returns the steps taken.
     */
    async rollUp({ settleMs = ROLLUP_SETTLE_MS, stopped: halted = () => false }: { settleMs?: number; stopped?: () => boolean } = {}) {
      let steps = 0;
      while (!stopped && !halted()) {
        const [maxSpanMs, started] = [span, Date.now()];
        const step = await store.rollUp({ settleMs, maxSpanMs });
        if (step === 'busy' || !step) break;
        steps += 1;
        const took = Date.now() - started;
        if (took > ROLLUP_SLOW_STEP_MS) span = Math.max(ROLLUP_MIN_SPAN_MS, span / 2);
        else if (took < ROLLUP_SLOW_STEP_MS / 4) span = Math.min(ROLLUP_MAX_SPAN_MS, span * 2);
        // A step short of its span reached the settled edge: the rest is for the next pass.
        if (step.until.getTime() - step.from.getTime() < maxSpanMs) break;
      }
      if (!stopped && !halted() && Date.now() - prunedAt >= HOUR) {
        prunedAt = Date.now();
        await store.pruneActive();
      }
      return steps;
    },

    /** One socket sample now (tests), as the timer takes them. */
    sample: () => sampler.sample(),

    async stop() {
      stopped = true; // a rollup under way ends after its current step
      await sampler.stop();
      await counts.stop().catch(onError);
    },
  };
}
export type UsageService = ReturnType<typeof createUsageService>;
