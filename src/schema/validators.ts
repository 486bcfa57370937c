import { z } from 'zod';
import { ID_PATTERN } from '../lib/ids.ts';

/** zod schemas shared by the input types; every argument of the schema goes through one. */
export const idSchema = z.string().regex(ID_PATTERN, 'Malformed id');
export const idListSchema = (max: number) => z.array(idSchema).min(1, 'At least one id').max(max, `At most ${max} ids`);
export const nameSchema = z.string().trim().min(1, 'Must not be empty').max(200, 'At most 200 characters');
export const optionalTextSchema = z.string().max(500, 'At most 500 characters').nullish();

const METADATA_MAX_BYTES = 8 * 1024;
const METADATA_MAX_DEPTH = 5;

/**
 * Whether objects and arrays nest more than `max` levels deep. Iterative, and it stops at
 * the first level too many: hostile input (100k nested arrays fit in a request) would
 * overflow the stack of a recursive walk or of JSON.stringify.
 */
function deeperThan(value: unknown, max: number): boolean {
  const pending: [unknown, number][] = [[value, 0]];
  while (pending.length > 0) {
    const [node, level] = pending.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (level === max) return true;
    for (const child of Object.values(node)) pending.push([child, level + 1]);
  }
  return false;
}

/** Free-form JSON an app attaches to users, conversations and messages, kept small and flat. */
export const metadataSchema = z
  .record(z.string(), z.unknown())
  // Depth first, and aborting: the size check serialises the value, which needs it shallow.
  .refine((v) => !deeperThan(v, METADATA_MAX_DEPTH), { message: `At most ${METADATA_MAX_DEPTH} levels deep`, abort: true })
  .refine((v) => Buffer.byteLength(JSON.stringify(v)) <= METADATA_MAX_BYTES, `At most ${METADATA_MAX_BYTES} bytes of JSON`)
  .nullish();

export const originSchema = z
  .string()
  .max(300)
  .refine((v) => {
    if (v === '*') return true;
    try {
      const url = new URL(v);
      return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === v;
    } catch {
      return false;
    }
  }, 'Must be an origin such as https://chat.example.com, or *');

/** Relay page arguments: at most 100 rows a page, cursors of a sane size. */
export const pageArgsSchema = z.looseObject({
  first: z.number().int().min(0).max(100, 'At most 100 per page').nullish(),
  last: z.number().int().min(0).max(100, 'At most 100 per page').nullish(),
  after: z.string().max(200).nullish(),
  before: z.string().max(200).nullish(),
});
