import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.ts';
import { ConfigError, type Role } from './config.ts';
import type { Deps } from './deps.ts';
import { startWorker, type Worker } from './jobs/worker.ts';

export type ParleyNode = {
  app: FastifyInstance;
  /** The background jobs, on the `worker` and `all` roles. */
  worker: Worker | null;
  port: number;
  /**
   * The first step of a graceful shutdown: /readyz answers 503 `draining` from now on, while
   * everything keeps serving for `ms`, so load balancers stop sending before `close`.
   */
  drain(ms: number): Promise<void>;
  /** Graceful: stop accepting, close sockets with 1012, finish requests, flush the relay. */
  close(): Promise<void>;
};

/**
 * One Parley process in its role: `api` serves GraphQL over HTTP and WebSocket, `worker` runs
 * the background jobs (and answers health checks), `all` does both (`npm start`).
 */
export async function startNode(deps: Deps, role: Role): Promise<ParleyNode> {
  const { config } = deps;
  const app = await buildApp(deps, { api: role !== 'worker' });
  const worker =
    role === 'api'
      ? null
      : startWorker({
          relay: deps.services.relay,
          messages: deps.services.stores.messages,
          log: deps.log,
          outboxSweepMs: config.outboxSweepMs,
          webhooks: { queue: deps.services.webhookQueue, dispatcher: deps.services.webhookDispatcher },
          usage: { rollUp: (options) => deps.services.usage.rollUp(options) },
        });

  const stop = async () => {
    await app.close(); // stops accepting, closes sockets (1012), lets in-flight requests finish
    await worker?.stop();
    await deps.services.relay.flush(); // publishes started after a commit complete
  };
  const drain = async (ms: number) => {
    deps.lifecycle.draining = true;
    deps.log.info({ drainMs: ms }, 'draining: not ready, still serving');
    await new Promise((resolve) => setTimeout(resolve, ms));
  };
  const close = async () => {
    deps.lifecycle.draining = true;
    try {
      await stop();
    } finally {
      await deps.close();
    }
  };

  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    await stop(); // the caller closes deps, which it opened
    const inUse = (err as { code?: unknown }).code === 'EADDRINUSE';
    throw inUse ? new ConfigError([`PORT: ${config.host}:${config.port} is already in use (EADDRINUSE)`]) : err;
  }
  return { app, worker, port: (app.server.address() as { port: number }).port, drain, close };
}
