import type { AppScope } from '../../lib/scope.ts';
import type { ActiveRow } from './usage.store.ts';

const HOUR_MS = 3600_000;
export const hourOf = (at: number) => new Date(Math.floor(at / HOUR_MS) * HOUR_MS);
/** Rows per INSERT … unnest statement. */
const CHUNK = 5_000;
/** At most this many rows wait for a flush (a long database outage drops the newest beyond). */
const MAX_PENDING = 200_000;

/**
 * Marks users active per UTC hour: the first request (or socket) of a user in an hour on this
 * node queues one row; later ones find the user in memory and queue nothing. `flush` (the
 * sampler's tick) writes the queue in a few multi-row statements, so the top of the hour (every
 * socket holder new again) is a handful of statements, not one INSERT per user at once. A
 * failed flush keeps its rows for the next tick.
 */
export function createActivityRecorder({ store, onError }: { store: { recordActive(rows: ActiveRow[]): PromiseLike<unknown> }; onError: (err: unknown) => void }) {
  let hour = 0;
  let seen = new Set<string>();
  /** Rows to write, by app, hour and user (a late row of the hour before included). */
  let pending = new Map<string, ActiveRow>();
  let dropped = 0;

  const queue = (row: ActiveRow) => {
    const key = `${row.hour.getTime()}\t${row.appId}\t${row.userId}`;
    if (pending.has(key)) return;
    if (pending.size >= MAX_PENDING) return void (dropped += 1);
    pending.set(key, row);
  };

  return {
    record(scope: AppScope, userId: string, at = Date.now()) {
      const h = hourOf(at);
      const key = `${scope.appId}\t${userId}`;
      if (h.getTime() > hour) {
        hour = h.getTime();
        seen = new Set(); // a new hour: everyone is new again, and last hour's entries go
      } else if (h.getTime() < hour) {
        // A late sample of the hour before (or a clock step back): queue it, the insert is idempotent.
        return queue({ tenantId: scope.tenantId, appId: scope.appId, userId, hour: h });
      }
      if (seen.has(key)) return;
      seen.add(key);
      queue({ tenantId: scope.tenantId, appId: scope.appId, userId, hour: h });
    },

    /** Writes the queued rows, CHUNK per statement, one statement at a time; failed ones stay queued. */
    async flush() {
      if (dropped > 0) {
        onError(new Error(`usage: ${dropped} active-user rows dropped (more than ${MAX_PENDING} waiting)`));
        dropped = 0;
      }
      if (pending.size === 0) return;
      const rows = [...pending.values()];
      pending = new Map();
      for (let i = 0; i < rows.length; i += CHUNK) {
        try {
          await store.recordActive(rows.slice(i, i + CHUNK));
        } catch (err) {
          rows.slice(i).forEach(queue); // back in the queue (bounded), for the next tick
          onError(err);
          return;
        }
      }
    },

    /** Rows waiting for a flush (tests). */
    pending: () => pending.size,
  };
}
export type ActivityRecorder = ReturnType<typeof createActivityRecorder>;
