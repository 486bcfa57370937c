import type { CodegenConfig } from '@graphql-codegen/cli';

// Reads the committed schema.graphql (never server code) and generates typed documents (not
// committed): the tests' graphql(`…`) into test/generated, the SDK's operations into sdk/src/generated.
const config: CodegenConfig = {
  schema: 'schema.graphql',
  ignoreNoDocuments: true,
  silent: true,
  generates: {
    'test/generated/': {
      documents: ['test/**/*.ts', 'sdk/test/**/*.ts', '!test/generated/**'],
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        emitLegacyCommonJSImports: false,
        enumsAsTypes: true,
        scalars: { DateTime: 'string', JSONObject: 'Record<string, unknown>' },
      },
    },
    // One file of typed documents (no graphql() function: the SDK ships only its own operations).
    'sdk/src/generated/graphql.ts': {
      documents: ['sdk/src/operations/**/*.graphql'],
      plugins: ['typescript-operations', 'typed-document-node'],
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        avoidOptionals: { field: true, inputValue: false, object: true, defaultValue: false },
        scalars: { DateTime: 'string', JSONObject: 'Record<string, unknown>' },
      },
    },
  },
};
export default config;
