// `npm run migrate`: applies pending migrations to the configured store and exits.
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/database.ts';

const db = await openDatabase(loadConfig());
try {
  const applied = await db.migrate();
  console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'Nothing to apply: the database is up to date.');
} finally {
  await db.close();
}
