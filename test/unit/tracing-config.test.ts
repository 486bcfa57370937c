import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { inSpan, setupTracing, stopTracing, tracingEnabled } from '../../src/observability/tracing.ts';

// Tracing's configuration (issue 7): off by default, OTLP/HTTP to the standard OTel endpoints
// when OTEL_TRACES_EXPORTER=otlp, and a bad value stops the start.
const base = { ADMIN_TOKEN: 'unit-admin-token-0123456789', DATA_DIR: ':memory:' };

afterEach(() => stopTracing());

describe('tracing configuration', () => {
  it('off by default; setting it up then installs nothing', async () => {
    const { tracing } = loadConfig(base);
    expect(tracing).toEqual({
      exporter: 'none',
      endpoint: 'http://localhost:4318/v1/traces',
      serviceName: 'parley',
      sampleRatio: 1,
      trustIncomingSampling: false,
      webhookTraceparent: false,
    });
    await setupTracing(tracing);
    expect(tracingEnabled()).toBe(false);
  });

  it('OTEL_EXPORTER_OTLP_ENDPOINT gets /v1/traces; OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as given and wins', () => {
    expect(loadConfig({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing.endpoint).toBe('http://collector:4318/v1/traces');
    const both = { ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://tempo:4318/custom' };
    expect(loadConfig(both).tracing.endpoint).toBe('http://tempo:4318/custom');
    expect(loadConfig({ ...base, OTEL_SERVICE_NAME: 'parley-eu', OTEL_TRACES_SAMPLER_ARG: '0.25' }).tracing).toMatchObject({ serviceName: 'parley-eu', sampleRatio: 0.25 });
  });

  it('OTEL_TRUST_INCOMING_SAMPLING and WEBHOOK_TRACEPARENT: off unless `true`', () => {
    const on = loadConfig({ ...base, OTEL_TRUST_INCOMING_SAMPLING: 'true', WEBHOOK_TRACEPARENT: 'true' }).tracing;
    expect(on).toMatchObject({ trustIncomingSampling: true, webhookTraceparent: true });
    const off = loadConfig({ ...base, OTEL_TRUST_INCOMING_SAMPLING: 'false', WEBHOOK_TRACEPARENT: 'false' }).tracing;
    expect(off).toMatchObject({ trustIncomingSampling: false, webhookTraceparent: false });
    expect(() => loadConfig({ ...base, OTEL_TRUST_INCOMING_SAMPLING: 'yes' })).toThrow(/OTEL_TRUST_INCOMING_SAMPLING/);
    expect(() => loadConfig({ ...base, WEBHOOK_TRACEPARENT: '1' })).toThrow(/WEBHOOK_TRACEPARENT/);
  });

  it('a bad exporter, endpoint or ratio stops the start, naming the variable', () => {
    expect(() => loadConfig({ ...base, OTEL_TRACES_EXPORTER: 'jaeger' })).toThrow(/OTEL_TRACES_EXPORTER/);
    expect(() => loadConfig({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
    expect(() => loadConfig({ ...base, OTEL_TRACES_SAMPLER_ARG: '2' })).toThrow(/OTEL_TRACES_SAMPLER_ARG/);
  });

  it('otlp: spans reach the collector over OTLP/HTTP, buffered ones at the latest on stop', async () => {
    const received: { url: string | undefined; headers: IncomingHttpHeaders; body: Buffer }[] = [];
    const collector = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ url: req.url, headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = collector.address() as AddressInfo;
      await setupTracing(
        loadConfig({ ...base, OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_SERVICE_NAME: 'parley-unit' }).tracing,
      );
      expect(tracingEnabled()).toBe(true);
      await inSpan('unit span', {}, async () => {});
      await stopTracing();
      expect(received).toHaveLength(1);
      expect(received[0]!.url).toBe('/v1/traces');
      // Protobuf: the strings are there as they are.
      expect(received[0]!.body.includes('unit span')).toBe(true);
      expect(received[0]!.body.includes('parley-unit')).toBe(true);
    } finally {
      collector.close();
    }
  });
});
