import { z } from 'zod';
import { ID_PATTERN } from '../lib/ids.ts';

/** zod schemas shared by the input types; every argument of the schema goes through one. */
export const idSchema = z.string().regex(ID_PATTERN, 'Malformed id');
export const idListSchema = (max: number) => z.array(idSchema).min(1, 'At least one id').max(max, `At most ${max} ids`);

/** An unpaired UTF-16 surrogate: with the `u` flag, a well-formed pair is one code point and never matches. */
const LONE_SURROGATE = /\p{Surrogate}/u;
const UNSAFE_TEXT = 'Must not contain NUL characters or unpaired surrogates';

/**
 * Text PostgreSQL can store: text and jsonb cannot hold NUL, and a lone surrogate has no
 * UTF-8 (jsonb refuses it, text would silently get U+FFFD instead).
 */
export const isSafeText = (s: string) => !s.includes('\u0000') && !LONE_SURROGATE.test(s);
/** Every free-text argument starts from this, so none reaches SQL as an INTERNAL error. */
export const safeText = z.string().refine(isSafeText, UNSAFE_TEXT);

export const nameSchema = safeText.trim().min(1, 'Must not be empty').max(200, 'At most 200 characters');
export const optionalTextSchema = safeText.max(500, 'At most 500 characters').nullish();

const METADATA_MAX_BYTES = 8 * 1024;
const METADATA_MAX_DEPTH = 5;

/**
 * What is wrong with a JSON value, if anything: objects and arrays nested more than `max`
 * levels deep, or a key or string jsonb cannot hold (see `isSafeText`). Iterative, and it
 * stops at the first problem: hostile input (100k nested arrays fit in a request) would
 * overflow the stack of a recursive walk or of JSON.stringify.
 */
function jsonProblem(value: unknown, max: number): string | undefined {
  const pending: [unknown, number][] = [[value, 0]];
  while (pending.length > 0) {
    const [node, level] = pending.pop()!;
    if (typeof node === 'string' && !isSafeText(node)) return UNSAFE_TEXT;
    if (node === null || typeof node !== 'object') continue;
    if (level === max) return `At most ${max} levels deep`;
    for (const [key, child] of Object.entries(node)) {
      if (!isSafeText(key)) return UNSAFE_TEXT;
      pending.push([child, level + 1]);
    }
  }
  return undefined;
}

/** Free-form JSON an app attaches to users, conversations and messages, kept small and flat. */
export const metadataSchema = z
  .record(z.string(), z.unknown())
  // Depth and text first, and aborting: the size check serialises the value, which needs it shallow.
  .superRefine((v, ctx) => {
    const problem = jsonProblem(v, METADATA_MAX_DEPTH);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, input: v, continue: false });
  })
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
