import { z } from 'zod';
import { ID_PATTERN } from '../lib/ids.ts';

/** zod schemas shared by the input types; every argument of the schema goes through one. */
export const idSchema = z.string().regex(ID_PATTERN, 'Malformed id');
export const idListSchema = (max: number) => z.array(idSchema).min(1, 'At least one id').max(max, `At most ${max} ids`);
export const nameSchema = z.string().trim().min(1, 'Must not be empty').max(200, 'At most 200 characters');
export const optionalTextSchema = z.string().max(500, 'At most 500 characters').nullish();

const METADATA_MAX_BYTES = 8 * 1024;
const METADATA_MAX_DEPTH = 5;

function depth(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Object.values(value as object);
  return 1 + (children.length ? Math.max(...children.map(depth)) : 0);
}

/** Free-form JSON an app attaches to users, conversations and messages, kept small and flat. */
export const metadataSchema = z
  .record(z.string(), z.unknown())
  .refine((v) => Buffer.byteLength(JSON.stringify(v)) <= METADATA_MAX_BYTES, `At most ${METADATA_MAX_BYTES} bytes of JSON`)
  .refine((v) => depth(v) <= METADATA_MAX_DEPTH, `At most ${METADATA_MAX_DEPTH} levels deep`)
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
