import type { Logger } from 'pino';
import type { OutboxRelay } from '../events/outbox-relay.ts';
import type { MessageStore } from '../modules/message/message.store.ts';
import type { WebhookDispatcher } from '../modules/webhook/webhook-dispatcher.ts';
import type { WebhookQueue } from '../modules/webhook/webhook-queue.ts';
import { detached } from '../observability/tracing.ts';
import { startIdempotencySweeper } from './idempotency-sweeper.ts';

/** How often a worker folds settled messages and webhook rows into the hourly usage counters. */
const USAGE_ROLLUP_MS = 30_000;
/** How often a worker looks for webhook deliveries whose job was lost. */
const WEBHOOK_SWEEP_MS = 30_000;

export type Worker = {
  /** One pass of the outbox relay's sweep, as the timer runs it (tests call it directly). */
  sweepOutbox(): Promise<number>;
  sweepIdempotencyKeys(): Promise<unknown>;
  /** One pass of the webhook sweep (deliveries whose job was lost), as its timer runs it. */
  sweepWebhooks(): Promise<number>;
  /** Stops the timers and waits for the pass under way. */
  stop(): Promise<void>;
};

/**
 * The background jobs of the `worker` role: the outbox relay's sweep (on start, then every
 * `outboxSweepMs`) and the idempotency-key sweeper. Several workers are safe: the relay's
 * lease serialises them per conversation.
 */
export function startWorker(deps: Parameters<typeof startJobs>[0]): Worker {
  // Outside any trace: its timers and loops (and the transactions they run) are nobody's
  // request, even when it is started while one is being served.
  return detached(() => startJobs(deps));
}

function startJobs(deps: {
  relay: Pick<OutboxRelay, 'sweep'>;
  messages: Pick<MessageStore, 'deleteExpiredIdempotencyKeys'>;
  log: Logger;
  outboxSweepMs: number;
  webhooks: { queue: Pick<WebhookQueue, 'work' | 'expireInSeconds'>; dispatcher: Pick<WebhookDispatcher, 'run' | 'sweep'> };
  /** `stopped`: checked between the rollup's steps, so a long backfill does not hold up shutdown. */
  usage: { rollUp(options: { stopped: () => boolean }): Promise<number> };
}): Worker {
  const { relay, messages, log, outboxSweepMs, webhooks } = deps;
  // Webhook attempts: pg-boss polls for due jobs (and is woken at once by commits on this node);
  // stopping the queue (deps.close) lets the attempts under way finish.
  const working = webhooks.queue.work((jobs) => webhooks.dispatcher.run(jobs)).catch((err: unknown) => log.error({ err }, 'webhook workers failed to start'));
  // A delivery whose job was lost is queued again once it is overdue by twice a job's expiry
  // (pg-boss's own recovery of a dead worker's job comes first).
  const sweepWebhooks = () => webhooks.dispatcher.sweep(2 * webhooks.queue.expireInSeconds);
  const webhookSweep = setInterval(() => void sweepWebhooks().catch((err: unknown) => log.error({ err }, 'webhook sweep failed')), WEBHOOK_SWEEP_MS);
  webhookSweep.unref();
  // Usage: the rollup's own transaction and row lock make several workers take turns.
  let rolling: Promise<unknown> = Promise.resolve();
  const rollUsage = () =>
    (rolling = rolling.then(() => (stopped ? 0 : deps.usage.rollUp({ stopped: () => stopped }))).catch((err: unknown) => log.error({ err }, 'usage rollup failed')));
  const usageRollup = setInterval(() => void rollUsage(), USAGE_ROLLUP_MS);
  usageRollup.unref();
  void rollUsage();
  const idempotency = startIdempotencySweeper({ messages, onError: (err) => log.error({ err }, 'idempotency sweep failed') });

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<unknown> = Promise.resolve();
  const sweepOutbox = () => relay.sweep();
  const tick = () => {
    pass = sweepOutbox()
      .catch((err: unknown) => log.error({ err }, 'outbox sweep failed'))
      .finally(() => {
        if (stopped) return;
        timer = setTimeout(tick, outboxSweepMs);
        timer.unref(); // never keeps the process alive on its own
      });
  };
  tick();

  return {
    sweepOutbox,
    sweepIdempotencyKeys: () => idempotency.sweep(),
    sweepWebhooks,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      clearInterval(webhookSweep);
      clearInterval(usageRollup);
      idempotency.stop();
      await working;
      await pass;
      await rolling;
    },
  };
}
