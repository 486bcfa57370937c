import { resolveCursorConnection, type ResolveCursorConnectionArgs } from '@pothos/plugin-relay';
import { decodeCursor, encodeCursor } from '../lib/cursor.ts';
import { ID_PATTERN } from '../lib/ids.ts';
import type { PageArgs, TimeCursor } from '../lib/scope.ts';

type ConnectionArgs = { first?: number | null; last?: number | null; after?: string | null; before?: string | null };

/**
 * Relay pagination over a keyset: `key` turns a row into its cursor value, `isKey` checks a
 * decoded one (a forged cursor is BAD_USER_INPUT, never SQL), `fetch` reads one page.
 */
export function keysetConnection<T, K>(
  args: ConnectionArgs,
  cursor: { key: (row: T) => K; isKey: (v: unknown) => v is K },
  fetch: (page: PageArgs<K>) => Promise<T[]>,
) {
  return resolveCursorConnection(
    { args, toCursor: (row: T) => encodeCursor(cursor.key(row)), defaultSize: 20, maxSize: 100 },
    ({ before, after, limit, inverted }: ResolveCursorConnectionArgs) =>
      fetch({ before: decodeCursor(before, cursor.isKey), after: decodeCursor(after, cursor.isKey), limit, inverted }),
  );
}

/** Cursor values as the columns hold them: ids, int4 (seq), timestamps PostgreSQL can represent. */
export const isString = (v: unknown): v is string => typeof v === 'string' && ID_PATTERN.test(v);
export const isInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 2_147_483_647;
/** Years 1 to 9999: a JS Date reaches ±275760, PostgreSQL's timestamptz neither that far nor year 0. */
const isTime = (v: unknown): v is string => {
  if (typeof v !== 'string') return false;
  const year = new Date(v).getUTCFullYear(); // NaN for an invalid date
  return year >= 1 && year <= 9999;
};

/** Cursors of (timestamp, id) keysets. */
export const timeCursor = <T extends { id: string }>(time: (row: T) => Date) => ({
  key: (row: T): TimeCursor => ({ t: time(row).toISOString(), id: row.id }),
  isKey: (v: unknown): v is TimeCursor => {
    const c = v as Partial<TimeCursor> | null;
    return typeof c === 'object' && c !== null && isString(c.id) && isTime(c.t);
  },
});
