import { defineConfig } from 'prisma/config';

// Only used by the Prisma CLI (`npm run generate`). Parley applies migrations itself
// (src/db/migrate.ts) because Prisma's schema engine cannot be downloaded here.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://localhost/parley' },
});
