// `npm run schema`: prints the Pothos schema to schema.graphql (test/integration/schema.test.ts fails on drift).
import { writeFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { schema } from '../src/schema/index.ts';

export const printed = () => `${printSchema(schema)}\n`;

if (process.argv[2] === '--write') writeFileSync(new URL('../schema.graphql', import.meta.url), printed());
