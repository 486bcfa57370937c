import { context, createContextKey, ROOT_CONTEXT, SpanStatusCode, trace, TraceFlags, type Context, type Span, type SpanOptions, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

/**
 * OpenTelemetry tracing (docs/OPERATIONS.md, "Traces"). Off by default: then `tracer` stays
 * null, and every hook in the hot path returns after one null check, before it builds a span,
 * a context or a traceparent string.
 */
export type TracingConfig = Readonly<{
  /** OTEL_TRACES_EXPORTER: `none` (off) or `otlp` (OTLP/HTTP to `endpoint`). */
  exporter: 'none' | 'otlp';
  /** Where OTLP/HTTP spans go (…/v1/traces). */
  endpoint: string;
  serviceName: string;
  /**
   * Share of traces recorded (decided on the trace id). A caller's traceparent gives the trace
   * its id and parent, but not its sampling decision, unless `trustIncomingSampling`.
   */
  sampleRatio: number;
  /** OTEL_TRUST_INCOMING_SAMPLING: a caller's sampled flag decides (a trusted proxy sets it). */
  trustIncomingSampling: boolean;
  /** WEBHOOK_TRACEPARENT: webhook requests carry the attempt's `traceparent` (receivers are third parties). */
  webhookTraceparent: boolean;
}>;

let tracer: Tracer | null = null;
let provider: BasicTracerProvider | null = null;
let webhookTraceparent = false;
let trustCallers = false;
const w3c = new W3CTraceContextPropagator();

/** Marks the context of a caller's traceparent whose sampled flag is not ours to obey. */
const UNTRUSTED_CALLER = createContextKey('parley.untrusted_caller');

/**
 * Parent-based, except for a span whose parent is an untrusted caller's (callerContext): any
 * Internet client could send `-01` and have a large fan-out recorded in full, so the ratio
 * decides for it, on its trace id (the trace still joins up with the caller's).
 */
function samplerFor(ratio: number): Sampler {
  const byRatio = new TraceIdRatioBasedSampler(ratio);
  const parentBased = new ParentBasedSampler({ root: byRatio });
  return {
    shouldSample: (ctx, ...rest) => (ctx.getValue(UNTRUSTED_CALLER) ? byRatio : parentBased).shouldSample(ctx, ...rest),
    toString: () => `ParleySampler{ratio=${ratio}}`,
  };
}

/** The one check the hot path pays when tracing is off. */
export const tracingEnabled = () => tracer !== null;

/** The tracer, or null when tracing is off. */
export const activeTracer = () => tracer;

/** From the configuration, once per process (main.ts); `none` installs (and loads) nothing. */
export async function setupTracing(config: TracingConfig) {
  if (config.exporter === 'none') return;
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
  installTracing({
    exporter: new OTLPTraceExporter({ url: config.endpoint }),
    serviceName: config.serviceName,
    sampleRatio: config.sampleRatio,
    trustIncomingSampling: config.trustIncomingSampling,
    webhookTraceparent: config.webhookTraceparent,
    batch: true,
  });
}

/**
 * Installs a tracer provider exporting to `exporter` (tests pass an InMemorySpanExporter with
 * `batch: false`, so a span is exported as soon as it ends) and the async-local context.
 */
export function installTracing({
  exporter,
  serviceName = 'parley',
  sampleRatio = 1,
  trustIncomingSampling = false,
  webhookTraceparent: propagateToWebhooks = false,
  batch = false,
}: {
  exporter: SpanExporter;
  serviceName?: string;
  sampleRatio?: number;
  trustIncomingSampling?: boolean;
  webhookTraceparent?: boolean;
  batch?: boolean;
}) {
  if (provider) throw new Error('tracing is already installed');
  trustCallers = trustIncomingSampling;
  webhookTraceparent = propagateToWebhooks;
  provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }),
    sampler: samplerFor(sampleRatio),
    spanProcessors: [batch ? new BatchSpanProcessor(exporter) : new SimpleSpanProcessor(exporter)],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  tracer = provider.getTracer('parley');
}

/** Exports what is buffered and turns tracing off (shutdown; tests). */
export async function stopTracing() {
  const stopping = provider;
  tracer = null;
  provider = null;
  trustCallers = webhookTraceparent = false;
  if (!stopping) return;
  await stopping.shutdown();
  trace.disable();
  context.disable();
}

/** A span's W3C `traceparent`, or undefined when it is not sampled (nothing downstream would record). */
export function traceparentOf(span: Span): string | undefined {
  const sc = span.spanContext();
  if (!(sc.traceFlags & TraceFlags.SAMPLED)) return undefined;
  const carrier: Record<string, string> = {};
  w3c.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, { set: (c, k, v) => void (c[k] = v) });
  return carrier.traceparent;
}

/** The context a `traceparent` names (a header, an envelope, a row), or undefined when it is not valid. */
export function contextOf(traceparent: string | string[] | null | undefined): Context | undefined {
  if (!traceparent) return undefined;
  const extracted = w3c.extract(ROOT_CONTEXT, { traceparent }, {
    get: (c, k) => c[k as 'traceparent'],
    keys: (c) => Object.keys(c),
  });
  return trace.getSpanContext(extracted) ? extracted : undefined;
}

/**
 * The context of a request's `traceparent` (an Internet client's, or a proxy's): the trace
 * continues, and its sampling is ours to decide unless OTEL_TRUST_INCOMING_SAMPLING.
 */
export function callerContext(traceparent: string | string[] | null | undefined): Context | undefined {
  const ctx = contextOf(traceparent);
  return ctx && !trustCallers ? ctx.setValue(UNTRUSTED_CALLER, true) : ctx;
}

/** Whether webhook requests carry a `traceparent` (WEBHOOK_TRACEPARENT). */
export const traceparentToWebhooks = () => webhookTraceparent;

/**
 * Runs `fn` outside any trace: background work (timers, loops, queue workers) started while a
 * request is being served would otherwise inherit its context (async-local), and its
 * transactions would join that request's trace and persist its trace_context.
 */
export const detached = <T>(fn: () => T): T => context.with(ROOT_CONTEXT, fn);

/** The active span's traceparent, when there is a sampled one. */
export function currentTraceparent(): string | undefined {
  if (!tracer) return undefined;
  const span = trace.getSpan(context.active());
  return span ? traceparentOf(span) : undefined;
}

/** Marks a span failed with `err` (recorded as an exception event). */
export function failSpan(span: Span, err: unknown) {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/**
 * Runs `fn` in a span, active for what `fn` calls, and ends it when `fn` settles; `fn` gets
 * the span's traceparent (to carry it further). Tracing off: just `fn(undefined)`.
 */
export async function inSpan<T>(name: string, options: SpanOptions, fn: (traceparent: string | undefined, span: Span | undefined) => Promise<T>, parent?: Context): Promise<T> {
  if (!tracer) return fn(undefined, undefined);
  return tracer.startActiveSpan(name, options, parent ?? context.active(), async (span) => {
    try {
      return await fn(traceparentOf(span), span);
    } catch (err) {
      failSpan(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}
