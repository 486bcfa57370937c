import type { TestProject } from 'vitest/node';
import { createDatabase } from './databases.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    adminDatabaseUrl: string;
  }
}

/** A fresh database per run, so that no run sees another's data or migrations. */
export default async function setup(project: TestProject) {
  const adminUrl = process.env.DATABASE_URL!;
  const database = await createDatabase(adminUrl, 'parley_test');
  project.provide('databaseUrl', database.url);
  project.provide('adminDatabaseUrl', adminUrl);
  return database.drop;
}
