import type { FastifyBaseLogger as Logger } from 'fastify';
import type { ExecutionArgs, GraphQLError } from 'graphql';
import type { Viewer } from '../auth/viewer.ts';
import type { Metrics } from './metrics.ts';
import { describeOperation } from './operation-metrics.ts';

type Operation = { started: number; name: string | undefined; type: string; field: string; live: boolean; events: number; codes: string[] };

const codesOf = (errors: readonly GraphQLError[]) => errors.map((e) => String(e.extensions?.code ?? 'INTERNAL'));
const sinceMs = (started: number) => Math.round((performance.now() - started) * 10) / 10;

/**
 * One socket's lifecycle, as log lines and metrics: opened; connection accepted or refused;
 * each subscription started and ended (root field, duration, events, outcome); closed (code,
 * reason, duration, counts). Every line carries the socket's requestId and, once known, its
 * tenant and app. connection_init payloads are never logged (they hold the credential).
 */
export function observeSocket(log: Logger, metrics: Metrics, requestId: string) {
  const opened = performance.now();
  // No child logger per socket: two of them were a measurable share of an idle socket's memory
  // (docs/PERFORMANCE.md); the bindings go into each line instead.
  let bindings: { requestId: string; tenantId?: string; appId?: string } = { requestId };
  const socketLog = {
    info: (fields: object | string, msg?: string) => {
      if (!(log as Logger & { isLevelEnabled(level: string): boolean }).isLevelEnabled('info')) return;
      if (typeof fields === 'string') log.info(bindings, fields);
      else log.info({ ...bindings, ...fields }, msg);
    },
  };
  let tenantId: string | undefined;
  let initAt: number | undefined;
  let accepted = false;
  let subscriptions = 0;
  let sent = 0;
  const operations = new Map<string, Operation>();
  metrics.socketOpened();
  socketLog.info('socket opened');

  return {
    /** connection_init arrived (its credential is being checked). */
    initialising() {
      initAt ??= performance.now();
    },

    accepted(viewer: Viewer) {
      accepted = true;
      if ('scope' in viewer) {
        tenantId = viewer.scope.tenantId;
        bindings = { requestId, tenantId, appId: viewer.scope.appId };
      }
      metrics.socketAuthenticated(tenantId);
      socketLog.info({ caller: viewer.kind, durationMs: sinceMs(initAt ?? opened) }, 'connection accepted');
    },

    /** An operation has run (a subscription: its stream has started, or it failed at once). */
    operation(id: string, args: ExecutionArgs, live: boolean) {
      const info = describeOperation(args.document, args.operationName);
      if (info?.type !== 'subscription') return;
      // An id the client reused once graphql-ws forgot it (after its `complete`), before the old
      // stream's end was reported: end the old one now, so the gauge cannot drift upward.
      if (operations.has(id)) this.complete(id);
      operations.set(id, { started: performance.now(), name: info.name, type: info.type, field: info.field, live, events: 0, codes: [] });
      if (!live) return;
      subscriptions += 1;
      metrics.subscriptionStarted(tenantId, info.field);
      socketLog.info({ subscriptionId: id, operationName: info.name, field: info.field }, 'subscription started');
    },

    /** A result (event) is about to be written for operation `id`. */
    next(id: string, errors: readonly GraphQLError[] | undefined) {
      sent += 1;
      const operation = operations.get(id);
      if (operation) operation.events += 1;
      if (errors) this.failed(id, errors);
    },

    /** Errors returned for `id` (its subscribe message was refused, or its stream failed). */
    failed(id: string, errors: readonly GraphQLError[]) {
      const codes = codesOf(errors);
      metrics.errors(codes, tenantId);
      const operation = operations.get(id);
      if (operation) operation.codes.push(...codes.filter((c) => !operation.codes.includes(c)));
      else socketLog.info({ subscriptionId: id, outcome: codes.join(',') }, 'operation failed');
    },

    complete(id: string) {
      const operation = operations.get(id);
      if (!operation) return;
      operations.delete(id);
      if (operation.live) metrics.subscriptionEnded(tenantId, operation.field);
      socketLog.info(
        {
          subscriptionId: id,
          operationName: operation.name,
          field: operation.field,
          durationMs: sinceMs(operation.started),
          events: operation.events,
          outcome: operation.codes.length > 0 ? operation.codes.join(',') : 'ok',
        },
        operation.live ? 'subscription ended' : 'subscription refused',
      );
    },

    closed(code: number, reason: string) {
      // A live subscription whose end graphql-ws did not report (the socket went first).
      for (const id of [...operations.keys()]) this.complete(id);
      metrics.socketClosed(accepted ? tenantId : undefined);
      if (initAt !== undefined && !accepted) socketLog.info({ code, reason, durationMs: sinceMs(initAt) }, 'connection refused');
      socketLog.info({ code, reason, durationMs: sinceMs(opened), subscriptions, sent }, 'socket closed');
    },
  };
}
export type SocketObserver = ReturnType<typeof observeSocket>;
