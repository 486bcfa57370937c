/**
 * The orchestrator's side of the worker processes: subscriber workers (each holding a share
 * of the sockets) and the publisher, forked with tsx, spoken to over IPC one request at a time.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ROOT, children } from './processes.ts';
import type { FromPublisher, FromSubscriber, PublishResult, StepStats, ToPublisher, ToSubscriber, FinalReport, Protocol, SocketSpec, PublishConversation, PublishTarget } from './wire.ts';
import { emptyHistogram, merge, type Histogram } from './histogram.ts';

type Message = { type: string };

class Worker<In extends Message, Out extends Message> {
  private readonly waiting = new Map<string, ((message: Out) => void)[]>();
  constructor(readonly child: ChildProcess) {
    child.on('message', (message: Out) => {
      const queue = this.waiting.get(message.type);
      queue?.shift()?.(message);
    });
  }
  ask<T extends Out['type']>(message: In, reply: T): Promise<Extract<Out, { type: T }>> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`worker exited (${code}) while asked ${message.type}`));
      this.child.once('exit', onExit);
      const queue = this.waiting.get(reply) ?? [];
      queue.push((m) => {
        this.child.off('exit', onExit);
        resolve(m as Extract<Out, { type: T }>);
      });
      this.waiting.set(reply, queue);
      this.child.send(message);
    });
  }
  kill() {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

function forkWorker<In extends Message, Out extends Message>(script: string): Worker<In, Out> {
  const child = fork(path.join(ROOT, 'bench', script), [], { cwd: ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return new Worker<In, Out>(child);
}

/** Subscriber workers, sockets dealt round-robin. */
export class Subscribers {
  private readonly workers: Worker<ToSubscriber, FromSubscriber>[];
  constructor(count: number) {
    this.workers = Array.from({ length: count }, () => forkWorker<ToSubscriber, FromSubscriber>('subscriber-worker.ts'));
  }

  async open(protocol: Protocol, url: string, sockets: SocketSpec[], resume: boolean, concurrency = 50) {
    const shares = this.workers.map((_, w) => sockets.filter((_, i) => i % this.workers.length === w));
    const replies = await Promise.all(this.workers.map((w, i) => w.ask({ type: 'open', protocol, url, sockets: shares[i]!, concurrency, resume }, 'opened')));
    return { ok: replies.reduce((n, r) => n + r.ok, 0), failed: replies.reduce((n, r) => n + r.failed, 0), errors: replies.flatMap((r) => r.errors).slice(0, 5) };
  }

  async awaitUpTo(upTo: number[], timeoutMs: number) {
    const replies = await Promise.all(this.workers.map((w) => w.ask({ type: 'await', upTo, timeoutMs }, 'awaited')));
    return { complete: replies.every((r) => r.complete), behind: replies.reduce((n, r) => n + r.behind, 0) };
  }

  async stats(step: number): Promise<Omit<StepStats, 'step'>> {
    const replies = await Promise.all(this.workers.map((w) => w.ask({ type: 'stats', step }, 'stats')));
    const histogram: Histogram = emptyHistogram();
    for (const r of replies) merge(histogram, r.histogram);
    return {
      count: replies.reduce((n, r) => n + r.count, 0),
      histogram,
      closes: replies.reduce((n, r) => n + r.closes, 0),
      frameBytes: Math.max(...replies.map((r) => r.frameBytes)),
    };
  }

  async final(upTo: number[]): Promise<FinalReport> {
    const replies = await Promise.all(this.workers.map((w) => w.ask({ type: 'final', upTo }, 'final')));
    const closes: Record<string, number> = {};
    for (const r of replies) for (const [k, v] of Object.entries(r.closes)) closes[k] = (closes[k] ?? 0) + v;
    return {
      violations: replies.reduce((n, r) => n + r.violations, 0),
      samples: replies.flatMap((r) => r.samples).slice(0, 10),
      missing: replies.reduce((n, r) => n + r.missing, 0),
      incompleteSockets: replies.reduce((n, r) => n + r.incompleteSockets, 0),
      closes,
      reconnects: replies.reduce((n, r) => n + r.reconnects, 0),
      errors: replies.flatMap((r) => r.errors).slice(0, 10),
    };
  }

  async close() {
    await Promise.all(this.workers.map((w) => w.ask({ type: 'close' }, 'closed').catch(() => undefined)));
    for (const w of this.workers) w.kill();
  }
}

export class Publisher {
  private readonly worker = forkWorker<ToPublisher, FromPublisher>('publisher-worker.ts');

  async init(target: PublishTarget, conversations: PublishConversation[], bodyBytes: number, maxInFlight: number) {
    await this.worker.ask({ type: 'init', target, conversations, bodyBytes, maxInFlight }, 'ready');
  }

  openLoop(step: number, rate: number, durationMs: number): Promise<PublishResult> {
    return this.worker.ask({ type: 'open-loop', step, rate, durationMs }, 'done');
  }

  closedLoop(step: number, concurrency: number, durationMs: number): Promise<PublishResult> {
    return this.worker.ask({ type: 'closed-loop', step, concurrency, durationMs }, 'done');
  }

  close() {
    this.worker.kill();
  }
}
