import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Viewer } from '../auth/viewer.ts';
import type { Metrics } from './metrics.ts';

const REQUEST_ID = /^[\w.:-]{1,128}$/;
/** W3C Trace Context: version-traceid-parentid-flags; version ff and all-zero ids are invalid. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/** The trace id of a valid incoming `traceparent` header, or undefined. */
export function traceIdOf(headers: IncomingHttpHeaders): string | undefined {
  const value = headers.traceparent;
  const match = typeof value === 'string' ? TRACEPARENT.exec(value.trim()) : null;
  if (!match || match[1] === 'ff' || /^0+$/.test(match[2]!) || /^0+$/.test(match[3]!)) return undefined;
  return match[2];
}

/**
 * A request's id, so logs line up across a proxy, Parley and a client: an incoming
 * `x-request-id`, else the trace id of an incoming `traceparent`, else a fresh UUID (with
 * `prefix`: sockets' ids say they are sockets).
 */
export function requestIdOf(headers: IncomingHttpHeaders, prefix = ''): string {
  const given = headers['x-request-id'];
  if (typeof given === 'string' && REQUEST_ID.test(given)) return given;
  return traceIdOf(headers) ?? `${prefix}${randomUUID()}`;
}

/** What a request's log line says besides Fastify's own: filled by the GraphQL layer as it learns it. */
export type RequestRecord = {
  caller?: Viewer['kind'];
  tenantId?: string;
  appId?: string;
  operationName?: string;
  operationType?: string;
  field?: string;
  /** Contract codes of the errors returned, in order, without repeats. */
  codes: string[];
};

const records = new WeakMap<FastifyRequest, RequestRecord>();

/** The record of `req` (created on first use). */
export function recordOf(req: FastifyRequest): RequestRecord {
  let record = records.get(req);
  if (!record) records.set(req, (record = { codes: [] }));
  return record;
}

/** Notes who called: their tenant and app go into the request's log line. */
export function recordViewer(record: RequestRecord, viewer: Viewer) {
  record.caller = viewer.kind;
  if ('scope' in viewer) {
    record.tenantId = viewer.scope.tenantId;
    record.appId = viewer.scope.appId;
  }
}

export function recordCodes(record: RequestRecord, codes: Iterable<string>) {
  for (const code of codes) if (!record.codes.includes(code)) record.codes.push(code);
}

/** Probes and scrapes every few seconds: logged at debug, unless they fail. */
const QUIET_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * One JSON line per HTTP request, written when the response is (Fastify's own two lines are
 * off): id, route, status, duration, caller, GraphQL operation and outcome. No header, body or
 * query string is logged, so no credential can be. Also the request-duration histogram and the
 * errors counter. Added on the root instance, so it sees every route.
 */
export function logRequests(app: FastifyInstance, metrics: Metrics) {
  app.addHook('onResponse', async (req, reply) => {
    const record = records.get(req) ?? { codes: [] };
    const route = req.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    const seconds = reply.elapsedTime / 1000;
    metrics.httpRequest(req.method, route, status, seconds);
    metrics.errors(record.codes, record.tenantId);
    const level = status >= 500 ? 'error' : QUIET_ROUTES.has(route) && status < 400 ? 'debug' : 'info';
    req.log[level](
      {
        method: req.method,
        route,
        status,
        durationMs: Math.round(reply.elapsedTime * 10) / 10,
        traceId: traceIdOf(req.headers),
        caller: record.caller,
        tenantId: record.tenantId,
        appId: record.appId,
        operationName: record.operationName,
        operationType: record.operationType,
        field: record.field,
        outcome: record.codes.length > 0 ? record.codes.join(',') : status >= 400 ? `HTTP ${status}` : 'ok',
      },
      'request',
    );
  });
}
