import SchemaBuilder from '@pothos/core';
import DataloaderPlugin from '@pothos/plugin-dataloader';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import ValidationPlugin from '@pothos/plugin-validation';
import { badInput, forbidden, unauthenticated } from '../lib/errors.ts';
import type { Context } from './context.ts';

type ParleyTypes = {
  Context: Context;
  AuthScopes: { operator: boolean; appServer: boolean; endUser: boolean };
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSONObject: { Input: Record<string, unknown>; Output: unknown };
  };
};
/** For helpers that build fields outside a `fields: (t) => …` callback. */
export type SchemaTypes = PothosSchemaTypes.ExtendDefaultTypes<ParleyTypes>;

/** The schema builder and its plugins. No types here: they live with their modules. */
export const builder = new SchemaBuilder<ParleyTypes>({
  // scope-auth first, so that no other plugin's work runs for a caller who is refused.
  plugins: [ScopeAuthPlugin, ValidationPlugin, RelayPlugin, DataloaderPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: ({ viewer }) => ({
      operator: viewer.kind === 'operator',
      appServer: viewer.kind === 'app',
      endUser: viewer.kind === 'user',
    }),
    unauthorizedError: (_parent, { viewer }) =>
      viewer.kind === 'anonymous' ? unauthenticated('This operation needs a credential') : forbidden('Not allowed for this credential'),
  },
  relay: { clientMutationId: 'omit', cursorType: 'String' },
  validation: {
    validationError: ({ issues }) =>
      badInput(
        issues.map((issue) => ({
          path: (issue.path ?? []).map((p) => (typeof p === 'object' ? String(p.key) : String(p))).join('.'),
          message: issue.message,
        })),
      ),
  },
});

builder.queryType({});
builder.mutationType({});
