/**
 * Fanout benchmark against baselines (`npm run bench`, issue 9): on one machine, in one run,
 * the same workloads against
 *   raw-ws           a `ws` server writing ONE pre-serialized frame per event (the floor),
 *   yoga             plain GraphQL Yoga + graphql-ws, in-memory pub/sub, per-subscriber execution,
 *   parley-embedded  Parley on its default store (PGlite), in-process bus,
 *   parley-postgres  Parley on PostgreSQL + Redis (the production configuration),
 * each its own server process, with subscribers in separate worker processes and an open-loop
 * publisher process. Scenarios:
 *   one-conversation    1 conversation × 1,000 subscribers
 *   many-conversations  500 conversations × 10 members (publishes round-robin over them)
 *   idle                10,000 subscribed idle sockets: server memory per socket
 *   send-throughput     Parley: sendMessage at concurrency 64, closed loop; on PostgreSQL
 *                       beside pgbench inserting one row per transaction into the same database
 *
 * For a fanout scenario: the highest publish rate sustained (every delivery arrived, p99
 * receipt − intended send < 100 ms, publishes achieved ≥ 95 % of the rate), found by
 * doubling then bisecting steps of --step-seconds; then a run at half that rate for p50/p99
 * latency and server CPU per delivery. raw-ws runs last and repeats its latency run at every
 * other target's half rate, so that p99 compares at the same load. Every subscriber must get
 * every seq once and in order; the report says so loudly when not.
 *
 *   npm run bench -- [--quick] [--targets raw-ws,yoga,parley-embedded,parley-postgres]
 *                    [--scenarios one-conversation,many-conversations,idle,send-throughput]
 *                    [--subscribers 1000] [--conversations 500] [--members 10] [--idle-sockets 10000]
 *                    [--users 1000] [--step-seconds 5] [--bisections 3] [--max-steps 14]
 *                    [--start-deliveries 2000] [--workers 2] [--body-bytes 100]
 *                    [--send-seconds 10] [--send-concurrency 64] [--write]
 *
 * --quick: 50 subscribers, 20 conversations × 5, 500 idle sockets, 100 users, 2-second steps,
 * one bisection, 3-second send runs at concurrency 8 (a smoke run: numbers mean nothing).
 * Every flag also reads from BENCH_<FLAG> (BENCH_STEP_SECONDS=3, BENCH_QUICK=1, …).
 * BENCH_DATABASE_URL (else DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/postgres) is
 * the PostgreSQL server where scratch databases are created; redis-server and pgbench must be
 * on the PATH for parley-postgres. BENCH_SERVER_NODE_ARGS adds node flags to every server under
 * test (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to see where a target's time goes).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { countOf, quantile } from './lib/histogram.ts';
import { cleanup, cpuMs, rssBytes, sleep } from './lib/processes.ts';
import { runPgbench } from './lib/pgbench.ts';
import { machine, printReport, writeDoc, type FanoutResult, type IdleResult, type Report, type SendResult, type StepResult } from './lib/report.ts';
import { startTarget, TARGETS, type Layout, type Seeded, type Target, type TargetName } from './lib/targets.ts';
import { Publisher, Subscribers } from './lib/workers.ts';
import type { PublishResult } from './lib/wire.ts';

export const SCENARIOS = ['one-conversation', 'many-conversations', 'idle', 'send-throughput'] as const;
export type Scenario = (typeof SCENARIOS)[number];

// ---------------------------------------------------------------------------------------------
// Parameters

const INT_FLAGS = [
  'subscribers',
  'conversations',
  'members',
  'idle-sockets',
  'users',
  'step-seconds',
  'bisections',
  'max-steps',
  'start-deliveries',
  'workers',
  'body-bytes',
  'send-seconds',
  'send-concurrency',
] as const;

const { values: flags } = parseArgs({
  options: {
    ...Object.fromEntries(INT_FLAGS.map((f) => [f, { type: 'string' as const }])),
    targets: { type: 'string' },
    scenarios: { type: 'string' },
    quick: { type: 'boolean' },
    write: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (flags.help) {
  console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]);
  process.exit(0);
}

const truthy = (v: string | undefined) => ['1', 'true', 'yes'].includes(v ?? '');
const quick = (flags.quick as boolean | undefined) ?? truthy(process.env.BENCH_QUICK);

function intParam(flag: (typeof INT_FLAGS)[number], full: number, small: number, min = 1): number {
  const env = `BENCH_${flag.toUpperCase().replaceAll('-', '_')}`;
  const raw = (flags as Record<string, string | undefined>)[flag] ?? process.env[env];
  if (raw === undefined || raw === '') return quick ? small : full;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${flag} / ${env}: expected an integer >= ${min}, got ${raw}`);
  return n;
}

function listParam<T extends string>(flag: string | undefined, env: string, all: readonly T[]): T[] {
  const list = (flag ?? process.env[env] ?? all.join(',')).split(',').map((s) => s.trim()) as T[];
  for (const item of list) if (!all.includes(item)) throw new Error(`unknown ${item} (one of ${all.join(', ')})`);
  return list;
}

export type Params = typeof params;

export const params = {
  quick,
  subscribers: intParam('subscribers', 1000, 50, 2),
  conversations: intParam('conversations', 500, 20),
  members: intParam('members', 10, 5, 2),
  idleSockets: intParam('idle-sockets', 10_000, 500),
  users: intParam('users', 1000, 100, 2),
  stepSeconds: intParam('step-seconds', 5, 2),
  bisections: intParam('bisections', 3, 1, 0),
  maxSteps: intParam('max-steps', 14, 8),
  startDeliveries: intParam('start-deliveries', 2000, 500),
  workers: intParam('workers', Math.max(2, os.cpus().length), 2),
  bodyBytes: intParam('body-bytes', 100, 100, 24),
  sendSeconds: intParam('send-seconds', 10, 3),
  sendConcurrency: intParam('send-concurrency', 64, 8),
  targets: listParam(flags.targets as string | undefined, 'BENCH_TARGETS', TARGETS),
  scenarios: listParam(flags.scenarios as string | undefined, 'BENCH_SCENARIOS', SCENARIOS),
  write: (flags.write as boolean | undefined) ?? truthy(process.env.BENCH_WRITE),
  adminDatabaseUrl: process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres',
};

/** How long the idle scenario lets every server sit before it reads memory. */
const IDLE_SETTLE_MS = 20_000;

/** The sustained-rate rule: p99 under this, every delivery arrived, ≥ 95 % of the rate published. */
const P99_LIMIT_MS = 100;
const ACHIEVED_FLOOR = 0.95;
/** A step's deliveries are complete when nothing arrives for this long after its last publish. */
const DRAIN_IDLE_MS = 2000;
const DRAIN_MAX_MS = 30_000;

/**
 * Parley's settings for the bench: no per-conversation cap in the way (the fanout is measured,
 * not the limiter); no drain on SIGTERM (nothing to drain between scenarios, and a profiled
 * server must exit by itself to write its profile).
 */
const PARLEY_ENV = { CONVERSATION_MESSAGES_PER_SECOND: '1000000000', SHUTDOWN_DRAIN_MS: '0' };

export function layoutOf(scenario: Scenario): Layout {
  switch (scenario) {
    case 'one-conversation':
      return { conversations: 1, members: params.subscribers, users: Math.max(params.users, params.subscribers) };
    case 'many-conversations':
      return { conversations: params.conversations, members: params.members, users: params.users };
    case 'idle':
      // Sockets spread like the many-conversations scenario: members per conversation, several per user.
      return { conversations: Math.ceil(params.idleSockets / params.members), members: params.members, users: params.users };
    case 'send-throughput':
      return { conversations: params.sendConcurrency, members: 2, users: params.sendConcurrency * 2 };
  }
}

// ---------------------------------------------------------------------------------------------
// One target × one scenario

let stepCounter = 0;

class Session {
  readonly lastSeq: number[];
  readonly publisher = new Publisher();
  readonly subscribers: Subscribers;
  closesSoFar = 0;

  constructor(
    readonly target: Target,
    readonly seeded: Seeded,
    readonly membersPerConversation: number,
    readonly log: (msg: string) => void,
  ) {
    this.lastSeq = seeded.conversations.map(() => 0);
    this.subscribers = new Subscribers(params.workers);
  }

  record(result: PublishResult) {
    result.lastSeq.forEach((seq, c) => (this.lastSeq[c] = Math.max(this.lastSeq[c]!, seq)));
  }

  /** One untimed publish per conversation that every socket must receive: then every subscription is live. */
  async warmUp() {
    const n = this.seeded.conversations.length;
    const rate = Math.min(n, 500);
    const result = await this.publisher.openLoop(0, rate, (n * 1000) / rate);
    this.record(result);
    if (result.ok !== n) throw new Error(`warm-up: ${n - result.ok} publishes failed: ${JSON.stringify(result.errors)}`);
    const awaited = await this.subscribers.awaitUpTo(this.lastSeq, 60_000);
    if (!awaited.complete) throw new Error(`warm-up: ${awaited.behind} deliveries still missing after 60 s`);
  }

  /** One open-loop step at `rate` publishes/s. */
  async step(rate: number, durationMs = params.stepSeconds * 1000): Promise<StepResult> {
    const id = ++stepCounter;
    const aux = await this.target.auxPids();
    const cpu0 = cpuMs(this.target.server.pid);
    const aux0 = aux.map(cpuMs);
    const counters0 = await this.target.storeCounters?.();
    const published = await this.publisher.openLoop(id, rate, durationMs);
    this.record(published);
    const expected = published.ok * this.membersPerConversation;
    let stats = await this.subscribers.stats(id);
    let lastCount = -1;
    let lastProgress = Date.now();
    const started = Date.now();
    while (stats.count < expected && Date.now() - lastProgress < DRAIN_IDLE_MS && Date.now() - started < DRAIN_MAX_MS) {
      await sleep(100);
      stats = await this.subscribers.stats(id);
      if (stats.count !== lastCount) {
        lastCount = stats.count;
        lastProgress = Date.now();
      }
    }
    const cpu = cpuMs(this.target.server.pid) - cpu0;
    const auxCpu = aux.reduce((sum, pid, i) => sum + Math.max(0, cpuMs(pid) - aux0[i]!), 0);
    const counters1 = await this.target.storeCounters?.();
    // What one published event cost the store (commits, rows fetched), fanout included: a
    // number that grows with the subscribers means per-subscriber reads.
    const store = counters0 && counters1 && published.ok ? `; PostgreSQL per event: ${((counters1.commits - counters0.commits) / published.ok).toFixed(1)} commits, ${((counters1.fetched - counters0.fetched) / published.ok).toFixed(0)} rows fetched` : '';
    const closes = stats.closes - this.closesSoFar;
    this.closesSoFar = stats.closes;
    // The schedule's span (whole sends only: 1 send at 0.6/s is 1.6 s of schedule), or longer if the answers came later.
    const scheduled = Math.max(1, Math.round((rate * durationMs) / 1000));
    const seconds = Math.max(scheduled / rate, (published.endedAt - published.startedAt) / 1000);
    const achieved = published.ok / seconds;
    const p99 = quantile(stats.histogram, 0.99);
    const errors = Object.values(published.errors).reduce((a, b) => a + b, 0);
    const why: string[] = [];
    if (errors) why.push(`${errors} publishes failed ${JSON.stringify(published.errors)}`);
    if (stats.count < expected) why.push(`${expected - stats.count} of ${expected} deliveries missing`);
    if (!(p99 < P99_LIMIT_MS)) why.push(`p99 ${p99.toFixed(1)} ms`);
    if (achieved < ACHIEVED_FLOOR * rate) why.push(`published ${achieved.toFixed(0)}/s of ${rate.toFixed(0)}/s${published.late > scheduled * 0.05 ? ` (${published.late} sends left > 10 ms late: the publisher was short of CPU too)` : ''}`);
    if (closes) why.push(`${closes} sockets closed`);
    const result: StepResult = {
      rate,
      achieved,
      deliveries: stats.count,
      expected,
      deliveriesPerSecond: stats.count / seconds,
      p50: quantile(stats.histogram, 0.5),
      p99,
      samples: countOf(stats.histogram),
      cpuUsPerDelivery: stats.count ? (cpu * 1000) / stats.count : NaN,
      auxCpuUsPerDelivery: stats.count && aux.length ? (auxCpu * 1000) / stats.count : NaN,
      late: published.late,
      frameBytes: stats.frameBytes,
      sustained: why.length === 0,
      why: why.join('; '),
    };
    this.log(
      `step ${rate.toFixed(1)} ev/s: ${result.deliveriesPerSecond.toFixed(0)} deliveries/s, p50 ${result.p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, ` +
        `CPU ${result.cpuUsPerDelivery.toFixed(1)} µs/delivery${store} → ${result.sustained ? 'sustained' : `NOT sustained: ${result.why}`}`,
    );
    // Let whatever is still queued drain before the next step.
    await this.subscribers.awaitUpTo(this.lastSeq, 10_000);
    await sleep(500);
    return result;
  }

  async close() {
    await this.subscribers.close();
    this.publisher.close();
  }
}

/** Doubles from the start rate until a step is not sustained (halves down if the first is not), then bisects. */
async function search(session: Session, startRate: number): Promise<{ best: StepResult | null; steps: StepResult[] }> {
  const steps: StepResult[] = [];
  let best: StepResult | null = null;
  let bad = Infinity;
  let rate = startRate;
  let bisected = 0;
  while (steps.length < params.maxSteps) {
    const result = await session.step(rate);
    steps.push(result);
    if (result.sustained) best = result;
    else bad = Math.min(bad, rate);
    if (!best) {
      rate /= 2;
      if (rate < 0.5) break;
    } else if (bad === Infinity) rate *= 2;
    else {
      if (bisected++ >= params.bisections) break;
      rate = (best.rate + bad) / 2;
    }
  }
  return { best, steps };
}

async function withTarget<T>(name: TargetName, fn: (target: Target) => Promise<T>): Promise<T> {
  const target = await startTarget(name, { adminDatabaseUrl: params.adminDatabaseUrl, parleyEnv: PARLEY_ENV });
  try {
    return await fn(target);
  } finally {
    await target.stop();
  }
}

/**
 * With BENCH_HEAPSNAPSHOT=1 (and BENCH_SERVER_NODE_ARGS="--heapsnapshot-signal=SIGUSR2"), the
 * server writes a heap snapshot into its working directory before its sockets open and after:
 * compare them (e.g. `node bench/heap-diff.mjs before after`) to see what a socket keeps.
 */
async function heapSnapshot(target: Target, label: string) {
  if (!truthy(process.env.BENCH_HEAPSNAPSHOT)) return;
  console.error(`[heap] snapshot ${label} of pid ${target.server.pid}`);
  process.kill(target.server.pid, 'SIGUSR2');
  await sleep(8000);
}

/** Seeds, connects every socket (memory before/after), warms up; then `fn`; then the exactly-once check. */
async function connected<T>(target: Target, scenario: Scenario, fn: (session: Session, memory: { before: number; after: number; sockets: number }) => Promise<T>) {
  const log = (msg: string) => console.error(`[${scenario} · ${target.name}] ${msg}`);
  const layout = layoutOf(scenario);
  const seeded = await target.seed(layout, log);
  const session = new Session(target, seeded, layout.members, log);
  try {
    await session.publisher.init(target.publish, seeded.conversations, params.bodyBytes, 256);
    await sleep(1000);
    await heapSnapshot(target, `${scenario}-before`);
    const before = rssBytes(target.server.pid);
    log(`opening ${seeded.sockets.length} sockets`);
    const opened = await session.subscribers.open(target.protocol, target.wsUrl, seeded.sockets, target.resume);
    if (opened.failed) throw new Error(`${opened.failed} sockets failed to subscribe: ${opened.errors.join('; ')}`);
    await session.warmUp();
    // Idle memory is what an idle socket keeps: V8 collects what opening it left behind once
    // the process has been idle for a while (its memory reducer), so wait that out first.
    await sleep(scenario === 'idle' ? IDLE_SETTLE_MS : 2000);
    const after = rssBytes(target.server.pid);
    await heapSnapshot(target, `${scenario}-after`);
    const warnedBefore = target.server.warnings();
    const value = await fn(session, { before, after, sockets: seeded.sockets.length });
    const final = await session.subscribers.final(session.lastSeq);
    const warnings = target.server.warnings() - warnedBefore;
    if (warnings) log(`the server logged ${warnings} warning/error lines; last lines:\n${target.server.tail()}`);
    return { value, final, warnings };
  } finally {
    await session.close();
  }
}

async function fanout(name: TargetName, scenario: Scenario, referenceRates: number[]): Promise<FanoutResult> {
  return withTarget(name, async (target) => {
    const { value, final, warnings } = await connected(target, scenario, async (session, memory) => {
      const perEvent = session.membersPerConversation;
      const { best, steps } = await search(session, Math.max(0.5, params.startDeliveries / perEvent));
      // Latency runs last twice as long as a search step: more samples for the p99.
      const half = best ? await session.step(best.rate / 2, params.stepSeconds * 2000) : null;
      const references: Record<string, StepResult> = {};
      for (const rate of referenceRates) {
        session.log(`latency at ${rate.toFixed(1)} ev/s, another target's half rate`);
        references[rate.toFixed(3)] = await session.step(rate, params.stepSeconds * 2000);
      }
      return { best, steps, half, references, memory };
    });
    return { target: name, scenario, subscribersPerEvent: layoutOf(scenario).members, ...value, final, warnings };
  });
}

async function idle(name: TargetName): Promise<IdleResult> {
  return withTarget(name, async (target) => {
    const { value, final, warnings } = await connected(target, 'idle', async (_session, memory) => memory);
    return { target: name, memory: value, final, warnings };
  });
}

async function sendThroughput(name: TargetName): Promise<SendResult> {
  return withTarget(name, async (target) => {
    const log = (msg: string) => console.error(`[send-throughput · ${name}] ${msg}`);
    const seeded = await target.seed(layoutOf('send-throughput'), log);
    const publisher = new Publisher();
    try {
      await publisher.init(target.publish, seeded.conversations, params.bodyBytes, params.sendConcurrency);
      await publisher.closedLoop(++stepCounter, params.sendConcurrency, 1000); // warm-up: connections, JIT
      log(`sendMessage for ${params.sendSeconds} s, ${params.sendConcurrency} in flight`);
      const cpu0 = cpuMs(target.server.pid);
      const counters0 = await target.storeCounters?.();
      const result = await publisher.closedLoop(++stepCounter, params.sendConcurrency, params.sendSeconds * 1000);
      const cpu = cpuMs(target.server.pid) - cpu0;
      await sleep(1500); // let the backends report their statistics
      const counters1 = await target.storeCounters?.();
      const perSend =
        counters0 && counters1 && result.ok
          ? Object.fromEntries(Object.entries(counters1).map(([k, v]) => [k, Number(((v - counters0[k as keyof typeof counters0]) / result.ok).toFixed(1))]))
          : null;
      if (perSend) log(`PostgreSQL per send: ${JSON.stringify(perSend)}`);
      const sendsPerSecond = result.ok / ((result.endedAt - result.startedAt) / 1000);
      log(`${sendsPerSecond.toFixed(0)} sends/s, errors ${JSON.stringify(result.errors)}`);
      let pgbenchTps: number | null = null;
      let pgbenchError: string | undefined;
      if (target.databaseUrl) {
        try {
          pgbenchTps = await runPgbench(target.databaseUrl, params.sendConcurrency, params.sendSeconds, params.bodyBytes);
          log(`pgbench: ${pgbenchTps.toFixed(0)} tps`);
        } catch (err) {
          pgbenchError = String(err).slice(0, 300);
          log(`pgbench failed: ${pgbenchError}`);
        }
      }
      return { target: name, sendsPerSecond, errors: result.errors, cpuUsPerSend: result.ok ? (cpu * 1000) / result.ok : NaN, storePerSend: perSend, pgbenchTps, pgbenchError };
    } finally {
      publisher.close();
    }
  });
}

// ---------------------------------------------------------------------------------------------

function checkFileLimit() {
  const needed = Math.max(params.scenarios.includes('idle') ? params.idleSockets : 0, params.subscribers, params.conversations * params.members) + 1000;
  const limit = Number(execFileSync('sh', ['-c', 'ulimit -n']).toString().trim());
  if (Number.isFinite(limit) && limit < needed) {
    console.error(`!!! ulimit -n is ${limit}; this run opens about ${needed} sockets in one server. Run \`ulimit -n ${needed * 2}\` first (raise the hard limit as root if it refuses).`);
  }
}

async function main() {
  const started = machine();
  console.error(`machine: ${started}`);
  console.error(`parameters: ${JSON.stringify({ ...params, adminDatabaseUrl: undefined })}`);
  checkFileLimit();
  // raw-ws runs last: it repeats its latency run at the other targets' half rates.
  const order = [...params.targets.filter((t) => t !== 'raw-ws'), ...params.targets.filter((t) => t === 'raw-ws')];
  const report: Report = { machine: started, params, fanout: [], idle: [], send: [] };
  for (const scenario of params.scenarios) {
    if (scenario === 'one-conversation' || scenario === 'many-conversations') {
      for (const name of order) {
        const others = report.fanout.filter((r) => r.scenario === scenario && r.half).map((r) => r.half!.rate);
        report.fanout.push(await fanout(name, scenario, name === 'raw-ws' ? others : []));
      }
    } else if (scenario === 'idle') {
      for (const name of order) report.idle.push(await idle(name));
    } else {
      for (const name of order.filter((t) => t.startsWith('parley'))) report.send.push(await sendThroughput(name));
    }
  }
  const bad = printReport(report);
  if (params.write) {
    if (params.quick) console.error('--write ignored with --quick: smoke numbers do not belong in docs/PERFORMANCE.md');
    else writeDoc(report);
  }
  process.exitCode = bad ? 1 : 0;
}

process.on('beforeExit', () => {
  console.error('the benchmark stopped before it finished (nothing left to wait for)');
  process.exit(1);
});

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanup();
    process.exit(process.exitCode ?? 0);
  });
