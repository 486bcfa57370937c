import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, ROLES, type Role } from './config.ts';
import { createDeps } from './deps.ts';
import { startNode } from './node.ts';
import { setupTracing, stopTracing } from './observability/tracing.ts';

const USAGE = `Usage: parley [serve] [--role api|worker|all]

  --role api     GraphQL over HTTP and WebSocket (run several behind a load balancer)
  --role worker  background jobs: the outbox relay's sweep, the idempotency-key sweeper
  --role all     both, in one process (the default; what \`npm start\` runs)

The role may also come from the ROLE environment variable; the flag wins. Every other
setting comes from the environment (README.md, "Configuration").`;

/** `serve --role …` from the command line, or null when it asks only for help. */
function roleFromArgs(argv: string[]): Role | undefined | null {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { role: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (values.help) return null;
  if (positionals.length > 1 || (positionals[0] !== undefined && positionals[0] !== 'serve')) {
    throw new ConfigError([`unknown command: ${positionals.join(' ')}\n\n${USAGE}`]);
  }
  if (values.role === undefined) return undefined;
  if (!(ROLES as readonly string[]).includes(values.role)) throw new ConfigError([`--role: must be one of ${ROLES.join(', ')}`]);
  return values.role as Role;
}

async function main() {
  let argRole: Role | undefined | null;
  try {
    argRole = roleFromArgs(process.argv.slice(2));
  } catch (err) {
    throw err instanceof ConfigError ? err : new ConfigError([`${(err as Error).message}\n\n${USAGE}`]);
  }
  if (argRole === null) return console.log(USAGE);
  const config = loadConfig(argRole ? { ...process.env, ROLE: argRole } : process.env);
  await setupTracing(config.tracing); // before anything serves: off (nothing installed) by default
  const deps = await createDeps(config);
  const node = await startNode(deps, config.role).catch(async (err: unknown) => {
    // A start that failed (a port in use, say) still closes the store: PGlite shuts down cleanly.
    await deps.close();
    throw err;
  });

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    deps.log.info({ signal }, 'shutting down');
    // SIGTERM (an orchestrator): not ready at once, then stop after SHUTDOWN_DRAIN_MS. Ctrl-C: at once.
    if (signal === 'SIGTERM') await node.drain(config.shutdownDrainMs);
    await node.close();
    await stopTracing(); // exports the spans still buffered
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM').catch(fail));
  process.on('SIGINT', () => void shutdown('SIGINT').catch(fail));

  deps.log.info(
    { role: config.role, store: deps.db.kind, bus: deps.bus.kind, dataDir: config.dataDir, graphql: config.role === 'worker' ? null : '/graphql' },
    `Parley (${config.role}) is listening on port ${node.port}`,
  );
  if (config.adminTokenGenerated) {
    deps.log.info(`Operator token (ADMIN_TOKEN) generated and kept in ${config.dataDir}/admin-token`);
  }
}

function fail(err: unknown) {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
}

main().catch(fail);
