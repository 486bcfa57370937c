import { context, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_PATH,
} from '@opentelemetry/semantic-conventions';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { activeTracer, callerContext } from './tracing.ts';

/**
 * A SERVER span per HTTP request, the root of its trace or the child of the caller's span when
 * it sent a valid W3C `traceparent` (an invalid one starts a trace of our own); whether it is
 * sampled is ours to decide (callerContext). Registered on the root app, so it sees every route.
 */
export function traceHttpRequests(app: FastifyInstance) {
  const requests = new WeakMap<FastifyRequest, Span>();

  app.addHook('onRequest', (req, _reply, done) => {
    const tracer = activeTracer();
    if (!tracer) return done();
    const path = req.url.split('?', 1)[0]!;
    const span = tracer.startSpan(
      req.method,
      {
        kind: SpanKind.SERVER,
        attributes: { [ATTR_HTTP_REQUEST_METHOD]: req.method, [ATTR_URL_PATH]: path, [ATTR_CLIENT_ADDRESS]: req.ip, 'parley.request_id': req.id },
      },
      callerContext(req.headers.traceparent) ?? context.active(),
    );
    const ctx = trace.setSpan(context.active(), span);
    requests.set(req, span);
    // The rest of the request runs in this context (Fastify keeps it across the body read):
    // the GraphQL operation becomes the span's child.
    context.with(ctx, done);
  });

  app.addHook('onResponse', (req, reply, done) => {
    const span = requests.get(req);
    if (span) {
      const route = req.routeOptions.url;
      if (route) span.updateName(`${req.method} ${route}`).setAttribute(ATTR_HTTP_ROUTE, route);
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, reply.statusCode);
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      requests.delete(req);
    }
    done();
  });

  // A client that went away before the answer: no onResponse.
  app.addHook('onRequestAbort', (req, done) => {
    requests.get(req)?.setAttribute('parley.aborted', true).end();
    requests.delete(req);
    done();
  });
}
