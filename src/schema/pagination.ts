import { resolveCursorConnection, type ResolveCursorConnectionArgs } from '@pothos/plugin-relay';
import { decodeCursor, encodeCursor } from '../lib/cursor.ts';
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

export const isString = (v: unknown): v is string => typeof v === 'string' && v.length <= 100;
export const isInt = (v: unknown): v is number => Number.isSafeInteger(v);

/** Cursors of (timestamp, id) keysets. */
export const timeCursor = <T extends { id: string }>(time: (row: T) => Date) => ({
  key: (row: T): TimeCursor => ({ t: time(row).toISOString(), id: row.id }),
  isKey: (v: unknown): v is TimeCursor => {
    const c = v as Partial<TimeCursor> | null;
    return typeof c === 'object' && c !== null && isString(c.id) && typeof c.t === 'string' && !Number.isNaN(Date.parse(c.t));
  },
});
