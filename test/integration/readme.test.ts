import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProcess, type ParleyProcess } from '../helpers/process.ts';
import { storeEnv } from '../helpers/server.ts';

const run = promisify(execFile);
const adminToken = `readme-${randomBytes(8).toString('hex')}`;
let parley: ParleyProcess;

beforeAll(async () => {
  parley = await startProcess({ ...storeEnv(), ADMIN_TOKEN: adminToken });
});
afterAll(() => parley?.stop());

/** The fenced block that follows `opening` in README.md. */
function block(readme: string, opening: string): string {
  const start = readme.indexOf(`${opening}\n`);
  if (start < 0) throw new Error(`README has no ${opening} block`);
  const body = readme.slice(start + opening.length + 1);
  return body.slice(0, body.indexOf('```'));
}

describe('README', () => {
  it('the five-minute walkthrough runs as written and prints what the README says', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const script = block(readme, '```bash walkthrough');
    const printed = block(readme.slice(readme.indexOf('It prints:')), '```');
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script], {
      env: { ...process.env, PARLEY: `${parley.url}/graphql`, ADMIN_TOKEN: adminToken },
    });
    const expected = printed.trim().split('\n');
    const actual = stdout.trim().split('\n');
    expect(actual).toHaveLength(expected.length);
    // "…" in the README stands for an id that differs on every run.
    expected.forEach((line, i) => {
      const pattern = new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replaceAll('…', '[A-Za-z0-9]+')}$`);
      expect(actual[i]).toMatch(pattern);
    });
  });
});
