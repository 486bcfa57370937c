import type { FastifyRequest } from 'fastify';
import { getOperationAST, Kind, type DocumentNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Viewer } from '../auth/viewer.ts';
import type { Metrics } from './metrics.ts';
import { recordCodes, recordOf, recordViewer } from './request-log.ts';

export type OperationInfo = { name: string | undefined; type: string; field: string };

/**
 * An operation's type and root field: the labels of the operation histogram. Client-chosen
 * operation names are unbounded, so they go to logs only; root fields are the schema's.
 * Several root fields in one document are `multiple`.
 */
export function describeOperation(document: DocumentNode, operationName?: string | null): OperationInfo | undefined {
  const operation = getOperationAST(document, operationName ?? undefined);
  if (!operation) return undefined;
  const fields = new Set<string>();
  for (const selection of operation.selectionSet.selections) {
    fields.add(selection.kind === Kind.FIELD ? selection.name.value : 'fragment');
  }
  if (fields.size > 1) fields.delete('__typename');
  const field = fields.size === 1 ? [...fields][0]! : 'multiple';
  return { name: operation.name?.value ?? operationName ?? undefined, type: operation.operation, field };
}

/** Yoga's context over either transport: the Fastify request is there over HTTP only. */
type Seen = { req?: FastifyRequest; viewer?: Viewer; params?: { operationName?: string | null } };

/**
 * Times every query and mutation (HTTP and WebSocket alike: Yoga executes both) by type, root
 * field and outcome; and, over HTTP, tells the request's log line who called, which operation
 * ran and which error codes went back. Placed after the error shaping (useErrorCodes), whose
 * codes it reads.
 */
export function useOperationMetrics(metrics: Metrics): Plugin {
  return {
    onParse: () => ({ result, context }) => {
      const { req, params } = context as Seen;
      if (!req || !result || result instanceof Error) return;
      const info = describeOperation(result as DocumentNode, params?.operationName);
      if (!info) return;
      const record = recordOf(req);
      record.operationName = info.name;
      record.operationType = info.type;
      record.field = info.field;
    },
    onExecute({ args }) {
      const started = performance.now();
      const { req, viewer } = args.contextValue as Seen;
      if (req && viewer) recordViewer(recordOf(req), viewer);
      return {
        onExecuteDone({ result }) {
          if (!('errors' in result) && !('data' in result)) return; // a stream: not an operation's latency
          const info = describeOperation(args.document, args.operationName);
          if (info) metrics.operation(info.type, info.field, result.errors?.length ? 'error' : 'ok', (performance.now() - started) / 1000);
        },
      };
    },
    onResultProcess({ result, serverContext }) {
      const { req } = serverContext as Seen;
      if (!req) return;
      for (const item of Array.isArray(result) ? result : [result]) {
        const errors = (item as { errors?: readonly { extensions?: Record<string, unknown> }[] } | undefined)?.errors ?? [];
        recordCodes(recordOf(req), errors.map((e) => String(e.extensions?.code ?? 'INTERNAL')));
      }
    },
  };
}
