import { buildApp } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { createDeps } from './deps.ts';

async function main() {
  const config = loadConfig();
  const deps = await createDeps(config);
  const app = await buildApp(deps);

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    await app.close(); // stops accepting, lets in-flight requests finish
    await deps.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  await app.listen({ port: config.port, host: config.host });
  app.log.info(
    { store: deps.db.kind, dataDir: config.dataDir, graphql: `/graphql` },
    `Parley is listening on port ${(app.server.address() as { port: number }).port}`,
  );
  if (config.adminTokenGenerated) {
    app.log.info(`Operator token (ADMIN_TOKEN) generated and kept in ${config.dataDir}/admin-token`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
