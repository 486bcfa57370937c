import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { printed } from '../../scripts/print-schema.ts';

describe('schema.graphql', () => {
  it('is exactly what the Pothos schema prints (run `npm run schema` after changing the schema)', () => {
    const committed = readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8');
    expect(committed).toBe(printed());
  });
});
