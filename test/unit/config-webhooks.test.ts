import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';

// The contract's webhook defaults: a receiver answering 2xx within 10 s has received the
// event; private targets are refused unless configured; the retry schedule comes from
// WEBHOOK_RETRY_SCHEDULE.
const base = { ADMIN_TOKEN: 'unit-admin-token-0123456789', DATA_DIR: ':memory:' };

describe('webhook configuration', () => {
  it('defaults: 10 s per attempt, private targets refused, the documented schedule', () => {
    expect(loadConfig(base).webhooks).toEqual({
      timeoutMs: 10_000,
      allowPrivateTargets: false,
      retrySchedule: [5, 30, 120, 600, 1800, 7200, 21600, 43200],
      disableAfterSeconds: 5 * 24 * 3600,
    });
  });

  it('WEBHOOK_RETRY_SCHEDULE is seconds between attempts; a malformed one stops the start', () => {
    expect(loadConfig({ ...base, WEBHOOK_RETRY_SCHEDULE: '1, 2.5,60' }).webhooks.retrySchedule).toEqual([1, 2.5, 60]);
    for (const bad of ['soon', '1,,2', '-1', '5,30,']) expect(() => loadConfig({ ...base, WEBHOOK_RETRY_SCHEDULE: bad }), bad).toThrow(/WEBHOOK_RETRY_SCHEDULE/);
    expect(loadConfig({ ...base, WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' }).webhooks.allowPrivateTargets).toBe(true);
  });
});
