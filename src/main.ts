import { buildApp } from './app.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { createDeps, type Deps } from './deps.ts';

async function main() {
  const config = loadConfig();
  const deps = await createDeps(config);
  try {
    await start(config, deps);
  } catch (err) {
    // A start that failed (a port in use, say) still closes the store: PGlite shuts down cleanly.
    await deps.close();
    throw err;
  }
}

async function start(config: Config, deps: Deps) {
  const app = await buildApp(deps);

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    try {
      await app.close(); // stops accepting, lets in-flight requests finish
    } finally {
      await deps.close();
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM').catch(fail));
  process.on('SIGINT', () => void shutdown('SIGINT').catch(fail));

  await app.listen({ port: config.port, host: config.host }).catch((err: unknown) => {
    const inUse = (err as { code?: unknown }).code === 'EADDRINUSE';
    throw inUse ? new ConfigError([`PORT: ${config.host}:${config.port} is already in use (EADDRINUSE)`]) : err;
  });
  app.log.info(
    { store: deps.db.kind, dataDir: config.dataDir, graphql: `/graphql` },
    `Parley is listening on port ${(app.server.address() as { port: number }).port}`,
  );
  if (config.adminTokenGenerated) {
    app.log.info(`Operator token (ADMIN_TOKEN) generated and kept in ${config.dataDir}/admin-token`);
  }
}

function fail(err: unknown) {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
}

main().catch(fail);
