// `npm run example`: Parley on the embedded store (./data/example, port 4000, an operator token
// generated and kept there) and the example chat's server (port 5173), in one process.
// With PARLEY_URL (and its ADMIN_TOKEN) set, the example uses that Parley instead.
//
// Parley's own settings (PORT, HOST, DATA_DIR, DATABASE_URL, …) apply as for `npm start`;
// EXAMPLE_PORT moves the page.
import { ConfigError, loadConfig } from '../../src/config.ts';
import { createDeps } from '../../src/deps.ts';
import { startNode } from '../../src/node.ts';
import { ParleyApiError } from './parley-api.ts';
import { startExample } from './server.ts';

type Parley = { url: string; adminToken: string | undefined; note?: string; close(): Promise<void> };

async function startParley(): Promise<Parley> {
  if (process.env.PARLEY_URL) return { url: process.env.PARLEY_URL, adminToken: process.env.ADMIN_TOKEN, close: async () => {} };
  const config = loadConfig({ PORT: '4000', DATA_DIR: './data/example', LOG_LEVEL: 'warn', ...process.env, ROLE: 'all' });
  const deps = await createDeps(config);
  const node = await startNode(deps, config.role).catch(async (err: unknown) => {
    await deps.close();
    throw err;
  });
  const host = ['0.0.0.0', '::'].includes(config.host) ? 'localhost' : config.host;
  return {
    url: `http://${host}:${node.port}`,
    adminToken: config.adminToken,
    note: config.adminTokenGenerated ? `operator token in ${config.dataDir}/admin-token` : undefined,
    close: () => node.close(),
  };
}

async function main() {
  const parley = await startParley();
  const example = await startExample({
    parleyUrl: parley.url,
    adminToken: parley.adminToken,
    port: Number(process.env.EXAMPLE_PORT ?? 5173),
  }).catch(async (err: unknown) => {
    await parley.close();
    throw err;
  });

  const shutdown = async () => {
    await example.close();
    await parley.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());

  console.log(`Parley: ${parley.url}/graphql${parley.note ? `  (${parley.note})` : ''}`);
  console.log(`Example chat: ${example.url.replace('127.0.0.1', 'localhost')}  (open it in two windows, or a private one, and chat)`);
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError || err instanceof ParleyApiError ? err.message : err);
  process.exit(1);
});
