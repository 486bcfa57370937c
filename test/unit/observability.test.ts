import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLabelCap, createMetrics } from '../../src/observability/metrics.ts';
import { describeOperation } from '../../src/observability/operation-metrics.ts';
import { requestIdOf, traceIdOf } from '../../src/observability/request-log.ts';

// The pieces of logs and metrics that need no server: configuration, request ids, the label
// cap, operation labels, the scrape-time cache (integration: metrics.test.ts, logs.test.ts).
const base = { ADMIN_TOKEN: 'unit-admin-token-0123456789', DATA_DIR: ':memory:' };

describe('configuration', () => {
  it('defaults: /metrics open, 50 tenant labels, a 5 s drain', () => {
    expect(loadConfig(base)).toMatchObject({ metricsToken: null, metricsTenantLabels: 50, shutdownDrainMs: 5000 });
  });

  it('METRICS_TOKEN needs 16 characters; SHUTDOWN_DRAIN_MS and METRICS_TENANT_LABELS are whole numbers', () => {
    expect(() => loadConfig({ ...base, METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN/);
    expect(loadConfig({ ...base, METRICS_TOKEN: 'a-long-enough-token', SHUTDOWN_DRAIN_MS: '0', METRICS_TENANT_LABELS: '3' })).toMatchObject({
      metricsToken: 'a-long-enough-token',
      shutdownDrainMs: 0,
      metricsTenantLabels: 3,
    });
    for (const bad of ['-1', 'soon', '1.5']) expect(() => loadConfig({ ...base, SHUTDOWN_DRAIN_MS: bad }), bad).toThrow(/SHUTDOWN_DRAIN_MS/);
    expect(() => loadConfig({ ...base, METRICS_TENANT_LABELS: '-1' })).toThrow(/METRICS_TENANT_LABELS/);
  });
});

describe('request ids', () => {
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

  it('an incoming x-request-id wins; else a valid traceparent’s trace id; else a fresh UUID (prefixed for sockets)', () => {
    expect(requestIdOf({ 'x-request-id': 'lb-123', traceparent })).toBe('lb-123');
    expect(requestIdOf({ traceparent })).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(requestIdOf({})).toMatch(/^[0-9a-f-]{36}$/);
    expect(requestIdOf({}, 'ws-')).toMatch(/^ws-[0-9a-f-]{36}$/);
    // An x-request-id that could forge log lines or grow unbounded is not taken.
    expect(requestIdOf({ 'x-request-id': 'a"b\nc' })).toMatch(/^[0-9a-f-]{36}$/);
    expect(requestIdOf({ 'x-request-id': 'x'.repeat(129) })).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('only a valid W3C traceparent has a trace id', () => {
    expect(traceIdOf({ traceparent })).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    for (const bad of [
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', // version ff
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01', // zero trace id
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', // zero parent id
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', // upper case
      '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01', // short
      'nonsense',
    ]) {
      expect(traceIdOf({ traceparent: bad }), bad).toBeUndefined();
    }
  });
});

describe('the tenant label cap', () => {
  it('the first N values keep their own label, later ones are "other", missing ones "none"', () => {
    const label = createLabelCap(2);
    expect(['t1', 't2', 't3', 't1', 't4', 't2'].map(label)).toEqual(['t1', 't2', 'other', 't1', 'other', 't2']);
    expect(label(undefined)).toBe('none');
    expect(createLabelCap(0)('t1')).toBe('other');
  });
});

describe('operation labels', () => {
  it('type and root field from the document; the operation name only for logs; several root fields are "multiple"', () => {
    expect(describeOperation(parse('mutation Send { sendMessage(input: {}) { id } }'))).toEqual({ name: 'Send', type: 'mutation', field: 'sendMessage' });
    expect(describeOperation(parse('{ a: me { id } __typename }'))).toEqual({ name: undefined, type: 'query', field: 'me' });
    expect(describeOperation(parse('query Two { me { id } conversations { edges { cursor } } }'))?.field).toBe('multiple');
    expect(describeOperation(parse('query A { me { id } } query B { tenants { id } }'), 'B')).toEqual({ name: 'B', type: 'query', field: 'tenants' });
    expect(describeOperation(parse('query A { me { id } } query B { tenants { id } }'))).toBeUndefined(); // which one? none ran
  });
});

describe('scrape-time gauges', () => {
  const probe = (state: { reads: number; failing: boolean }) => ({
    outbox: async () => {
      state.reads += 1;
      if (state.failing) throw new Error('store away');
      return { events: 7, oldestSeconds: 3 };
    },
    webhookQueue: async () => ({ due: 1, scheduled: 2 }),
  });

  it('a store read that hangs does not hang the scrape: the read is reported and given up', async () => {
    const metrics = createMetrics();
    const errors: unknown[] = [];
    metrics.watch({ outbox: () => new Promise(() => {}), webhookQueue: () => new Promise(() => {}) }, (err) => errors.push(err));
    const text = await metrics.scrape();
    expect(text).toContain('# TYPE parley_outbox_backlog gauge');
    expect(String(errors[0])).toMatch(/store read took over/);
  });

  it('read the store once for several gauges and scrapes within the cache period', async () => {
    const metrics = createMetrics();
    const state = { reads: 0, failing: false };
    metrics.watch(probe(state), () => {});
    const first = await metrics.scrape();
    expect(first).toMatch(/^parley_outbox_backlog 7$/m);
    expect(first).toMatch(/^parley_outbox_oldest_seconds 3$/m);
    expect(first).toMatch(/^parley_webhook_queue_depth\{state="scheduled"\} 2$/m);
    await metrics.scrape();
    expect(state.reads).toBe(1);
  });

  it('a failing read is reported and the last value stays', async () => {
    const metrics = createMetrics();
    const state = { reads: 0, failing: false };
    const errors: unknown[] = [];
    metrics.watch(probe(state), (err) => errors.push(err), { cacheMs: 0 });
    await metrics.scrape();
    state.failing = true;
    expect(await metrics.scrape()).toMatch(/^parley_outbox_backlog 7$/m);
    expect(state.reads).toBeGreaterThan(1);
    expect(errors.length).toBeGreaterThan(0);
  });
});
