import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.ts';

// ioredis attaches the failed command to its errors (`command.args`): for AUTH, the password.
// Parley logs Redis errors as they come (deps.ts): the logger must drop it.
describe('a Redis error with a credential in it', () => {
  it('is logged without the password AUTH carried', async () => {
    const password = `wrong-password-${Date.now()}`;
    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 0 });
    // The server has no password (or another one): AUTH fails with a ReplyError, as it does
    // on every reconnect after a password rotation.
    const err = await redis.auth(password).then(
      () => null,
      (e: unknown) => e,
    );
    redis.disconnect();
    expect(JSON.stringify((err as { command?: unknown }).command)).toContain(password); // what ioredis attaches

    let out = '';
    const sink = new Writable({ write: (chunk, _enc, done) => ((out += String(chunk)), done()) });
    createLogger('info', sink).error({ err }, 'redis error');
    expect(out).toContain('redis error');
    expect(out).not.toContain(password);
  });
});
