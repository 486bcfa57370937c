import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Seconds: from a fast cached read to a slow request; p95 and p99 fall between buckets, not off the end. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Fanout is expected in milliseconds; the long tail (a relay sweep after a crash) up to a minute. */
const LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Scrape-time values read from the store are reused for this long, so scrapes stay cheap. */
const SCRAPE_CACHE_MS = 5_000;

/** The tenant label of a caller with no tenant (operator, anonymous, a socket before connection_init). */
export const NO_TENANT = 'none';
/** The tenant label of every tenant past the first `maxTenantLabels` this node has seen. */
export const OTHER_TENANT = 'other';

/**
 * Caps the distinct values of a label: the first `max` values seen keep their own, the rest
 * share `other`. Per process: enough to watch the biggest tenants (who are seen first) without
 * a series per tenant of a large platform.
 */
export function createLabelCap(max: number) {
  const seen = new Set<string>();
  return (value: string | null | undefined): string => {
    if (!value) return NO_TENANT;
    if (seen.has(value)) return value;
    if (seen.size >= max) return OTHER_TENANT;
    seen.add(value);
    return value;
  };
}

/** Reads what the scrape-time gauges report (observability/backlog.ts). */
export type BacklogProbe = {
  /** Committed events not yet on the bus, and how old the oldest is (seconds; 0 when none). */
  outbox(): Promise<{ events: number; oldestSeconds: number }>;
  /** Webhook attempt jobs by state: due now, scheduled for later (retries), being attempted. */
  webhookQueue(): Promise<{ due: number; scheduled: number }>;
};

/** How long a scrape waits for a store read: past it, the last value is reported. */
const SCRAPE_READ_TIMEOUT_MS = 1_000;

/** Rejects after `ms`: a store that hangs must not hang the scrape, or every metric goes missing. */
const within = <T>(ms: number, work: Promise<T>) =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`store read took over ${ms} ms`)), ms);
    work.then(resolve, reject).finally(() => clearTimeout(timer));
  });

/**
 * Calls `load` at most every `ms`; a failing or slow load (over SCRAPE_READ_TIMEOUT_MS) keeps
 * the last value (and is reported).
 */
function cached<T>(ms: number, load: () => Promise<T>, onError: (err: unknown) => void) {
  let value: T | undefined;
  let at = -Infinity;
  let pending: Promise<T | undefined> | undefined;
  return (): Promise<T | undefined> => {
    if (performance.now() - at < ms) return Promise.resolve(value);
    pending ??= within(SCRAPE_READ_TIMEOUT_MS, load())
      .then(
        (loaded) => ((at = performance.now()), (value = loaded)),
        (err: unknown) => (onError(err), value),
      )
      .finally(() => (pending = undefined));
    return pending;
  };
}

export type WebhookOutcome = 'delivered' | 'failed';
export type DeadLetterReason = 'exhausted' | 'gone' | 'endpoint_disabled';

/**
 * This node's Prometheus metrics, in a registry of its own (never prom-client's global one:
 * tests run several nodes in one process). Every name starts with `parley_`; the process and
 * Node.js defaults keep their usual names. docs/OPERATIONS.md lists them all.
 */
export function createMetrics({ maxTenantLabels = 50 }: { maxTenantLabels?: number } = {}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const tenant = createLabelCap(maxTenantLabels);
  const registers = [registry];

  const httpDuration = new Histogram({
    name: 'parley_http_request_duration_seconds',
    help: 'HTTP requests by method, route template and status class',
    labelNames: ['method', 'route', 'status_class'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const operationDuration = new Histogram({
    name: 'parley_graphql_operation_duration_seconds',
    help: 'GraphQL queries and mutations (HTTP and WebSocket) by operation type, root field and outcome',
    labelNames: ['type', 'field', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const errors = new Counter({
    name: 'parley_graphql_errors_total',
    help: 'Errors returned to clients, by contract code and tenant',
    labelNames: ['code', 'tenant'] as const,
    registers,
  });
  const sockets = new Gauge({ name: 'parley_ws_sockets', help: 'Open WebSockets by tenant (none: before connection_init)', labelNames: ['tenant'] as const, registers });
  const subscriptions = new Gauge({
    name: 'parley_ws_subscriptions',
    help: 'Active GraphQL subscriptions by tenant and root field',
    labelNames: ['tenant', 'field'] as const,
    registers,
  });
  const published = new Counter({
    name: 'parley_events_published_total',
    help: 'Conversation events handed to the bus by this node (persisted by the relay; ephemeral: typing, read receipts)',
    labelNames: ['tenant', 'kind'] as const,
    registers,
  });
  const delivered = new Counter({
    name: 'parley_events_delivered_total',
    help: 'Events written to subscribers’ sockets by this node, by tenant and subscription field',
    labelNames: ['tenant', 'field'] as const,
    registers,
  });
  const fanoutLag = new Histogram({
    name: 'parley_fanout_lag_seconds',
    help: 'From a persisted event’s commit to its write on a subscriber’s socket (live events only, not replays)',
    buckets: LAG_BUCKETS,
    registers,
  });
  const webhookInFlight = new Gauge({
    name: 'parley_webhook_attempts_in_flight',
    help: 'Webhook requests this process has under way',
    registers,
  });
  const webhookAttempts = new Counter({ name: 'parley_webhook_attempts_total', help: 'Webhook attempts by outcome', labelNames: ['outcome'] as const, registers });
  const webhookRetries = new Counter({ name: 'parley_webhook_retries_total', help: 'Webhook retries scheduled after a failed attempt', registers });
  const deadLetters = new Counter({
    name: 'parley_webhook_dead_letters_total',
    help: 'Webhook deliveries that became dead letters, by reason',
    labelNames: ['reason'] as const,
    registers,
  });

  return {
    registry,
    /** The capped tenant label of a tenant id (or `none`). */
    tenant,

    httpRequest(method: string, route: string, status: number, seconds: number) {
      httpDuration.observe({ method, route, status_class: `${Math.floor(status / 100)}xx` }, seconds);
    },
    operation(type: string, field: string, outcome: 'ok' | 'error', seconds: number) {
      operationDuration.observe({ type, field, outcome }, seconds);
    },
    errors(codes: Iterable<string>, tenantId: string | null | undefined) {
      for (const code of codes) errors.inc({ code, tenant: tenant(tenantId) });
    },
    socketOpened: () => sockets.inc({ tenant: NO_TENANT }),
    /** connection_init accepted: the socket now counts for its tenant. */
    socketAuthenticated(tenantId: string | null | undefined) {
      sockets.dec({ tenant: NO_TENANT });
      sockets.inc({ tenant: tenant(tenantId) });
    },
    socketClosed: (tenantId: string | null | undefined) => sockets.dec({ tenant: tenant(tenantId) }),
    subscriptionStarted: (tenantId: string | null | undefined, field: string) => subscriptions.inc({ tenant: tenant(tenantId), field }),
    subscriptionEnded: (tenantId: string | null | undefined, field: string) => subscriptions.dec({ tenant: tenant(tenantId), field }),
    published: (tenantId: string, kind: 'persisted' | 'ephemeral', count = 1) => published.inc({ tenant: tenant(tenantId), kind }, count),
    /** The delivery counter of one subscription, its labels resolved once (not per event). */
    deliveredTo: (tenantId: string, field: string) => {
      const child = delivered.labels({ tenant: tenant(tenantId), field });
      return () => child.inc();
    },
    fanoutLag: (seconds: number) => fanoutLag.observe(Math.max(0, seconds)),
    webhookAttempt: (outcome: WebhookOutcome) => webhookAttempts.inc({ outcome }),
    /** An attempt's request is under way (this process); call the result when it settles. */
    webhookInFlight: () => (webhookInFlight.inc(), () => webhookInFlight.dec()),
    webhookRetry: () => webhookRetries.inc(),
    deadLetter: (reason: DeadLetterReason) => deadLetters.inc({ reason }),

    /**
     * The gauges read from the store when scraped (cached for a few seconds): the outbox
     * backlog and the webhook queue. Global values: every node reports the same.
     */
    watch(probe: BacklogProbe, onError: (err: unknown) => void, { cacheMs = SCRAPE_CACHE_MS } = {}) {
      const outbox = cached(cacheMs, () => probe.outbox(), onError);
      const queue = cached(cacheMs, () => probe.webhookQueue(), onError);
      new Gauge({
        name: 'parley_outbox_backlog',
        help: 'Committed events not yet published to the bus (whole store)',
        registers,
        async collect() {
          const read = await outbox();
          if (read) this.set(read.events);
        },
      });
      new Gauge({
        name: 'parley_outbox_oldest_seconds',
        help: 'Age of the oldest unpublished event (0 when none)',
        registers,
        async collect() {
          const read = await outbox();
          if (read) this.set(read.oldestSeconds);
        },
      });
      new Gauge({
        name: 'parley_webhook_queue_depth',
        help: 'Webhook attempt jobs waiting: due now, or scheduled for later (a retry) (whole store)',
        labelNames: ['state'] as const,
        registers,
        async collect() {
          const read = await queue();
          if (read) for (const [state, count] of Object.entries(read)) this.set({ state }, count);
        },
      });
    },

    /** The text format /metrics serves. */
    scrape: () => registry.metrics(),
    contentType: registry.contentType,
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
