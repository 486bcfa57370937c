import { SpanStatusCode } from '@opentelemetry/api';
import { getOperationAST, Kind } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { inSpan, tracingEnabled } from './tracing.ts';

/**
 * A span per executed query or mutation (over HTTP or a socket), named `<type> <operation
 * name or root field>`, active while it executes: the transaction a mutation runs is its
 * child. Subscriptions are not spans (they live as long as the socket); each event they
 * deliver is (delivery-tracing.ts). The document itself is not recorded (it may inline data).
 */
export function useOperationTracing(): Plugin {
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      if (!tracingEnabled()) return;
      const operation = getOperationAST(args.document, args.operationName);
      const type = operation?.operation ?? 'query';
      const first = operation?.selectionSet.selections[0];
      const rootField = first?.kind === Kind.FIELD ? first.name.value : undefined;
      const name = operation?.name?.value;
      setExecuteFn((execArgs) =>
        inSpan(
          `${type} ${name ?? rootField ?? ''}`.trim(),
          {
            attributes: {
              'graphql.operation.type': type,
              ...(name ? { 'graphql.operation.name': name } : {}),
              ...(rootField ? { 'parley.graphql.root_field': rootField } : {}),
            },
          },
          async (_traceparent, span) => {
            const result = await executeFn(execArgs);
            // Resolver errors are answers, not exceptions: the span says there were some.
            if (span && 'errors' in result && result.errors?.length) {
              span.setStatus({ code: SpanStatusCode.ERROR, message: result.errors[0]!.message });
            }
            return result;
          },
        ),
      );
    },
  };
}
