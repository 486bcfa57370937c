import type { AppScope } from '../../lib/scope.ts';
import { hourOf, type ActivityRecorder } from './activity-recorder.ts';
import type { SocketCounts } from './socket-counts.ts';
import type { SocketCount, UsageStore } from './usage.store.ts';

/**
 * Every `intervalMs`, on every node: marks the users holding sockets here active (a socket held
 * through an hour is activity in it) and writes the hour's queued active users in a few
 * statements; publishes this node's socket counts; raises the hour's socket peaks (per app and
 * per tenant) to the cluster's counts. A peak is written only when it beats what this node last
 * wrote for that hour, so a steady load writes nothing. Peaks are samples: sockets that open and
 * close between two samples are not seen. Each step goes on when another fails (a Redis outage
 * still records activity and this node's peaks, see `cluster`).
 */
export function startUsageSampler(deps: {
  counts: SocketCounts;
  /** The cluster's counts, or this node's when they cannot be read. */
  cluster: () => Promise<SocketCount[]>;
  store: Pick<UsageStore, 'raisePeaks'>;
  activity: ActivityRecorder;
  holders: () => Iterable<{ scope: AppScope; userId: string }>;
  intervalMs: number;
  onError: (err: unknown) => void;
}) {
  const { counts, cluster, store, activity, holders, intervalMs, onError } = deps;
  let hour = 0;
  let written = new Map<string, number>();

  async function sample() {
    const now = Date.now();
    for (const { scope, userId } of holders()) activity.record(scope, userId, now);
    await activity.flush();
    await counts.publish().catch(onError);
    const h = hourOf(now);
    if (h.getTime() !== hour) [hour, written] = [h.getTime(), new Map()];
    const apps = await cluster();
    const tenants = new Map<string, number>();
    for (const a of apps) tenants.set(a.tenantId, (tenants.get(a.tenantId) ?? 0) + a.sockets);
    const beats = (key: string, n: number) => n > (written.get(key) ?? 0);
    const appPeaks = apps.filter((a) => beats(a.appId, a.sockets));
    const tenantPeaks = [...tenants].filter(([id, n]) => beats(id, n)).map(([tenantId, sockets]) => ({ tenantId, sockets }));
    if (appPeaks.length === 0 && tenantPeaks.length === 0) return;
    await store.raisePeaks(h, appPeaks, tenantPeaks);
    for (const a of appPeaks) written.set(a.appId, a.sockets);
    for (const t of tenantPeaks) written.set(t.tenantId, t.sockets);
  }

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<void> = Promise.resolve();
  const tick = () => {
    pass = sample()
      .catch(onError)
      .finally(() => {
        if (stopped) return;
        timer = setTimeout(tick, intervalMs);
        timer.unref();
      });
  };
  // The first sample one interval after start: Redis (when used) has connected by then.
  timer = setTimeout(tick, intervalMs);
  timer.unref();
  return {
    /** One sample, as the timer takes it (after the one under way). */
    sample: () => (pass = pass.then(sample)),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await pass;
      await activity.flush(); // what the last tick queued since
    },
  };
}
export type UsageSampler = ReturnType<typeof startUsageSampler>;
