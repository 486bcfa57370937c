/**
 * The report of `npm run bench`: one table per scenario with absolute figures and ratios to
 * the raw `ws` baseline of the same run (and to Yoga where the issue's target is relative to
 * it), the issue's targets with PASS/FAIL, the correctness of every Parley run, and
 * `--write`'s section of docs/PERFORMANCE.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import type { Params } from '../run.ts';
import { ROOT } from './processes.ts';
import type { TargetName } from './targets.ts';
import type { FinalReport } from './wire.ts';

export type StepResult = {
  /** Target publish rate, events/s. */
  rate: number;
  achieved: number;
  deliveries: number;
  expected: number;
  deliveriesPerSecond: number;
  p50: number;
  p99: number;
  samples: number;
  cpuUsPerDelivery: number;
  /** PostgreSQL backends of the scratch database + redis-server (parley-postgres only). */
  auxCpuUsPerDelivery: number;
  late: number;
  /** Size of a delivered frame (the same payload on every target: a check of fairness). */
  frameBytes: number;
  sustained: boolean;
  why: string;
};

type Memory = { before: number; after: number; sockets: number };

export type FanoutResult = {
  target: TargetName;
  scenario: 'one-conversation' | 'many-conversations' | 'idle' | 'send-throughput';
  subscribersPerEvent: number;
  best: StepResult | null;
  steps: StepResult[];
  half: StepResult | null;
  /** raw-ws only: latency runs at other targets' half rates, keyed by rate.toFixed(3). */
  references: Record<string, StepResult>;
  memory: Memory;
  final: FinalReport;
  warnings: number;
};

export type IdleResult = { target: TargetName; memory: Memory; final: FinalReport; warnings: number };

export type SendResult = {
  target: TargetName;
  sendsPerSecond: number;
  errors: Record<string, number>;
  cpuUsPerSend: number;
  /** parley-postgres: pg_stat_database counters (commits, rows inserted, updated, fetched…) ÷ sends. */
  storePerSend: Record<string, number> | null;
  pgbenchTps: number | null;
  pgbenchError?: string;
};

export type Report = { machine: string; params: Params; fanout: FanoutResult[]; idle: IdleResult[]; send: SendResult[] };

export const SECTION = '## Fanout against baselines (npm run bench)';
const DOC = `${ROOT}docs/PERFORMANCE.md`;

export function machine(): string {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  const load = os.loadavg().map((n) => n.toFixed(1)).join(' ');
  return `${os.cpus().length} cores (${cpu}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}, load average ${load} at the start`;
}

const fmt = (n: number | undefined | null, digits = 0) =>
  n !== undefined && n !== null && Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–';
const ratio = (a: number | undefined | null, b: number | undefined | null) => (a != null && b != null && Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '–');
const perSocket = (m: Memory) => (m.after - m.before) / m.sockets;
const kib = (bytes: number) => fmt(bytes / 1024, 1);

function table(rows: string[][]): string {
  return rows.map((row, i) => `| ${row.join(' | ')} |${i === 0 ? `\n|${row.map(() => '---').join('|')}|` : ''}`).join('\n');
}

function correctness(final: FinalReport, warnings: number): string {
  const problems: string[] = [];
  if (final.violations) problems.push(`${final.violations} seq violations`);
  if (final.missing) problems.push(`${final.missing} missing`);
  if (final.reconnects) problems.push(`${final.reconnects} resumes`);
  const closes = Object.values(final.closes).reduce((a, b) => a + b, 0);
  if (closes && !final.reconnects) problems.push(`${closes} closes`);
  if (final.errors.length) problems.push(`${final.errors.length}+ client errors`);
  if (warnings) problems.push(`${warnings} server warnings`);
  return problems.length ? `**${problems.join(', ')}**` : 'ok';
}

/** The raw-ws latency run at `rate` (its own half rate when the rates match). */
function rawAt(raw: FanoutResult | undefined, rate: number): StepResult | undefined {
  if (!raw) return undefined;
  return raw.references[rate.toFixed(3)] ?? (raw.half && raw.half.rate.toFixed(3) === rate.toFixed(3) ? raw.half : undefined);
}

function fanoutTable(results: FanoutResult[]): string {
  const raw = results.find((r) => r.target === 'raw-ws');
  const yoga = results.find((r) => r.target === 'yoga');
  const header = [
    'target',
    'sockets',
    'frame bytes',
    'max sustained deliveries/s',
    '× raw-ws',
    '× yoga',
    'events/s',
    'p50 ms at ½',
    'p99 ms at ½',
    'raw-ws p99 ms, same load',
    'p99 × raw-ws',
    'server CPU µs/delivery at ½',
    '× raw-ws',
    'PostgreSQL+Redis CPU µs/delivery',
    'memory/socket KiB',
    '× raw-ws',
    'exactly once, in order',
  ];
  const rows = results.map((r) => {
    const same = r.target === 'raw-ws' ? r.half ?? undefined : r.half ? rawAt(raw, r.half.rate) : undefined;
    return [
      r.target,
      fmt(r.memory.sockets),
      fmt(r.steps.find((s) => s.frameBytes)?.frameBytes),
      r.best ? fmt(r.best.deliveriesPerSecond) : 'none sustained',
      ratio(r.best?.deliveriesPerSecond, raw?.best?.deliveriesPerSecond),
      ratio(r.best?.deliveriesPerSecond, yoga?.best?.deliveriesPerSecond),
      fmt(r.best?.rate, 1),
      fmt(r.half?.p50, 1),
      fmt(r.half?.p99, 1),
      fmt(same?.p99, 1),
      ratio(r.half?.p99, same?.p99),
      fmt(r.half?.cpuUsPerDelivery, 1),
      ratio(r.half?.cpuUsPerDelivery, raw?.half?.cpuUsPerDelivery),
      fmt(r.half?.auxCpuUsPerDelivery, 1),
      kib(perSocket(r.memory)),
      ratio(perSocket(r.memory), raw ? perSocket(raw.memory) : undefined),
      correctness(r.final, r.warnings),
    ];
  });
  return table([header, ...rows]);
}

function idleTable(results: IdleResult[]): string {
  const raw = results.find((r) => r.target === 'raw-ws');
  return table([
    ['target', 'sockets', 'RSS before MiB', 'RSS after MiB', 'memory/socket KiB', '× raw-ws', 'exactly once, in order'],
    ...results.map((r) => [
      r.target,
      fmt(r.memory.sockets),
      fmt(r.memory.before / 2 ** 20, 1),
      fmt(r.memory.after / 2 ** 20, 1),
      kib(perSocket(r.memory)),
      ratio(perSocket(r.memory), raw ? perSocket(raw.memory) : undefined),
      correctness(r.final, r.warnings),
    ]),
  ]);
}

function sendTable(results: SendResult[], params: Params): string {
  return table([
    ['target', 'in flight', 'sendMessage/s', 'server CPU µs/send', 'PostgreSQL per send', 'pgbench tps (1-row INSERT)', 'sends ÷ pgbench', 'failed sends'],
    ...results.map((r) => [
      r.target,
      String(params.sendConcurrency),
      fmt(r.sendsPerSecond),
      fmt(r.cpuUsPerSend, 0),
      r.storePerSend ? `${r.storePerSend.commits} commits, ${r.storePerSend.inserted} rows inserted, ${r.storePerSend.updated} updated, ${r.storePerSend.fetched} fetched` : '–',
      r.pgbenchTps !== null ? fmt(r.pgbenchTps) : r.pgbenchError ? `failed: ${r.pgbenchError.slice(0, 60)}` : '–',
      ratio(r.sendsPerSecond, r.pgbenchTps),
      Object.keys(r.errors).length ? JSON.stringify(r.errors) : '0',
    ]),
  ]);
}

type Verdict = { target: string; rule: string; measured: string; verdict: 'PASS' | 'FAIL' | 'n/a' };

function verdicts(report: Report): Verdict[] {
  const out: Verdict[] = [];
  const judge = (target: string, rule: string, value: number | undefined, limit: number | undefined, ok: (v: number, l: number) => boolean, show: (v: number, l: number) => string) => {
    const known = value !== undefined && limit !== undefined && Number.isFinite(value) && Number.isFinite(limit);
    out.push({ target, rule, measured: known ? show(value, limit) : 'not measured', verdict: known ? (ok(value, limit) ? 'PASS' : 'FAIL') : 'n/a' });
  };
  const parleys = ['parley-postgres', 'parley-embedded'] as const;
  const find = (scenario: string, target: string) => report.fanout.find((r) => r.scenario === scenario && r.target === target);
  for (const target of parleys) {
    if (!report.params.targets.includes(target)) continue;
    const one = find('one-conversation', target);
    judge(target, 'one conversation: deliveries/s ≥ 0.7 × raw-ws', one?.best?.deliveriesPerSecond ?? (one ? 0 : undefined), find('one-conversation', 'raw-ws')?.best?.deliveriesPerSecond, (v, l) => v >= 0.7 * l, (v, l) => `${fmt(v)} vs ${fmt(l)} (${ratio(v, l)})`);
    const many = find('many-conversations', target);
    judge(target, 'many conversations: deliveries/s ≥ 2 × yoga', many?.best?.deliveriesPerSecond ?? (many ? 0 : undefined), find('many-conversations', 'yoga')?.best?.deliveriesPerSecond, (v, l) => v >= 2 * l, (v, l) => `${fmt(v)} vs ${fmt(l)} (${ratio(v, l)})`);
    for (const scenario of ['one-conversation', 'many-conversations']) {
      const r = find(scenario, target);
      if (r && !r.best) {
        out.push({ target, rule: `${scenario}: p99 ≤ 2 × raw-ws p99 at the same load`, measured: 'no rate sustained', verdict: 'FAIL' });
        continue;
      }
      const same = r?.half ? rawAt(find(scenario, 'raw-ws'), r.half.rate) : undefined;
      judge(target, `${scenario}: p99 ≤ 2 × raw-ws p99 at the same load`, r?.half?.p99, same?.p99, (v, l) => v <= 2 * l, (v, l) => `${fmt(v, 1)} ms vs ${fmt(l, 1)} ms (${ratio(v, l)})`);
    }
    const idle = report.idle.find((r) => r.target === target);
    const rawIdle = report.idle.find((r) => r.target === 'raw-ws');
    judge(target, 'idle: memory/socket ≤ 1.5 × raw-ws', idle && perSocket(idle.memory), rawIdle && perSocket(rawIdle.memory), (v, l) => v <= 1.5 * l, (v, l) => `${kib(v)} KiB vs ${kib(l)} KiB (${ratio(v, l)})`);
    if (target === 'parley-postgres') {
      const send = report.send.find((r) => r.target === target);
      judge(target, `sendMessage/s at ${report.params.sendConcurrency} in flight ≥ 0.5 × pgbench`, send?.sendsPerSecond, send?.pgbenchTps ?? undefined, (v, l) => v >= 0.5 * l, (v, l) => `${fmt(v)} vs ${fmt(l)} (${ratio(v, l)})`);
    }
  }
  return out;
}

function verdictTable(list: Verdict[]): string {
  return table([['target', 'issue 9 target', 'measured', 'verdict'], ...list.map((v) => [v.target, v.rule, v.measured, v.verdict === 'FAIL' ? '**FAIL**' : v.verdict])]);
}

/** Lines that explain what went wrong: unsustained limits, lost events, closes, errors. */
function details(report: Report): string[] {
  const out: string[] = [];
  const finals = [
    ...report.fanout.map((r) => ({ name: `${r.scenario} · ${r.target}`, final: r.final })),
    ...report.idle.map((r) => ({ name: `idle · ${r.target}`, final: r.final })),
  ];
  for (const { name, final } of finals) {
    if (final.violations || final.missing) out.push(`- **${name}: EVENTS LOST, DUPLICATED OR REORDERED** — ${final.violations} seq violations, ${final.missing} missing on ${final.incompleteSockets} sockets; first: ${final.samples.slice(0, 3).join('; ')}`);
    const closes = Object.entries(final.closes);
    if (closes.length) out.push(`- ${name}: sockets closed by the server: ${closes.map(([k, v]) => `${v} × ${k}`).join(', ')}${final.reconnects ? ` (${final.reconnects} resumed with afterSeq)` : ''}`);
    if (final.errors.length) out.push(`- ${name}: client errors: ${final.errors.slice(0, 3).join('; ').slice(0, 400)}`);
  }
  for (const r of report.fanout) {
    const stop = r.steps.find((s) => !s.sustained && s.rate > (r.best?.rate ?? 0));
    if (stop) out.push(`- ${r.scenario} · ${r.target}: limit found at ${fmt(stop.rate, 1)} events/s: ${stop.why}`);
  }
  for (const r of report.send) if (Object.keys(r.errors).length) out.push(`- send-throughput · ${r.target}: failed sends ${JSON.stringify(r.errors)}`);
  return out;
}

function tables(report: Report): string {
  const parts: string[] = [];
  for (const scenario of ['one-conversation', 'many-conversations'] as const) {
    const results = report.fanout.filter((r) => r.scenario === scenario);
    if (!results.length) continue;
    const layout = scenario === 'one-conversation' ? `1 conversation × ${fmt(report.params.subscribers)} subscribers` : `${fmt(report.params.conversations)} conversations × ${report.params.members} members`;
    parts.push(`### ${scenario} (${layout})\n\n${fanoutTable(results)}`);
  }
  if (report.idle.length) parts.push(`### idle (${fmt(report.params.idleSockets)} subscribed sockets)\n\n${idleTable(report.idle)}`);
  if (report.send.length) parts.push(`### send-throughput (sendMessage over HTTP, closed loop, ${report.params.sendSeconds} s)\n\n${sendTable(report.send, report.params)}`);
  parts.push(`### Targets of issue 9\n\n${verdictTable(verdicts(report))}`);
  const notes = details(report);
  if (notes.length) parts.push(notes.join('\n'));
  return parts.join('\n\n');
}

/** Prints the report; true when some run lost, duplicated or reordered events. */
export function printReport(report: Report): boolean {
  console.log(`\nmachine: ${report.machine}\n\n${tables(report)}\n`);
  const bad = [...report.fanout, ...report.idle].some((r) => r.final.violations || r.final.missing);
  if (bad) console.log('!!! EVENTS WERE LOST, DUPLICATED OR REORDERED: see above. A fast wrong result is worthless. !!!');
  return bad;
}

const METHOD = `Events per second delivered to WebSocket subscribers of \`conversationEvents\`,
by Parley and by two baselines, on one machine, in one run (issue 9). Every target is its
own server process; subscribers are spread over \`--workers\` client processes; one more
process publishes.

- **raw-ws** (\`bench/baselines/raw-ws-server.ts\`): a \`ws\` server; clients subscribe with a
  one-line JSON message; \`POST /publish\` serializes ONE graphql-transport-ws \`next\` frame
  shaped like Parley's \`MessageCreated\` (same fields, same id lengths, same body) and writes
  that string to every socket of the conversation. The floor: no auth, no store, no
  per-subscriber work but the write.
- **yoga** (\`bench/baselines/yoga-server.ts\`): plain GraphQL Yoga + graphql-ws
  (\`useServer\`, Yoga's documented setup), the same selection, \`createPubSub\` in memory, a
  \`publish\` mutation over HTTP, and the default per-subscriber execution. Persists nothing.
- **parley-embedded**: \`node --import tsx src/main.ts\` on a scratch \`DATA_DIR\` (PGlite,
  in-process bus). **parley-postgres**: the same on a scratch PostgreSQL database and its
  own \`redis-server\` (the production configuration). Both \`NODE_ENV=production\`,
  \`LOG_LEVEL=warn\`, \`CONVERSATION_MESSAGES_PER_SECOND\` raised out of the way, seeded
  through the API (operator → ENTERPRISE tenant with its limits raised → app → API key →
  users → GROUP conversations → user tokens); events are published by \`sendMessage\` over
  HTTP with the members' tokens, so each one is a commit, then the bus, then the sockets.

Scenarios: **one-conversation** (1 conversation × \`--subscribers\` 1,000), **many-conversations**
(\`--conversations\` 500 × \`--members\` 10; publishes round-robin over them), **idle**
(\`--idle-sockets\` 10,000 subscribed sockets, \`--members\` per conversation, several per
user: memory only), **send-throughput** (below). One socket per subscription everywhere;
Parley's sockets belong to \`--users\` 1,000 users (a user is in several conversations).

Targets of issue 9, each a ratio within one run, judged on parley-postgres (parley-embedded
shown beside it): one-conversation deliveries/s ≥ 0.7 × raw-ws; many-conversations
deliveries/s ≥ 2 × yoga; p99 ≤ 2 × raw-ws p99 at the same load; idle memory per socket ≤
1.5 × raw-ws; \`sendMessage\`/s at 64 in flight ≥ 0.5 × pgbench.

Every subscriber socket holds one subscription of the same document
(\`__typename type conversationId seq at … on MessageCreated { message { id seq body sender
{ id displayName } createdAt } }\`), speaking graphql-transport-ws (raw-ws: its own
subscribe message, then the same frames). One untimed warm-up event per conversation must
reach every socket before anything is measured.

- **Load**: open loop. The publisher sends at a fixed rate on a fixed schedule, whatever the
  server answers, round-robin over the conversations (and over each conversation's members
  on Parley). Each body carries its *intended* send time: a publisher or a server that falls
  behind shows as latency instead of hiding it.
- **Latency**: receipt time (in the subscriber process) − the body's intended send time, same
  machine clock (\`performance.timeOrigin + performance.now()\`). On Parley the commit is part
  of it: "commit to receipt" here starts when \`sendMessage\` leaves the client, shortly before
  the commit (the event's own \`at\` has only millisecond precision). Latencies go into 2 %-wide
  buckets; quantiles are good to 2 %.
- **Max sustained deliveries/s**: steps of \`--step-seconds\` at a fixed publish rate,
  doubling from \`--start-deliveries\` then bisecting \`--bisections\` times. A step is
  sustained when every delivery arrived, p99 < 100 ms and the publisher achieved ≥ 95 % of
  the rate. The figure is the best sustained step's deliveries ÷ its duration. A step whose
  sends left late says so ("the publisher was short of CPU too"): the machine was saturated,
  and at the baselines' highest rates the publisher, not the target, may set the limit.
- **p50 / p99 at ½**: one more step, twice as long, at half the highest sustained rate.
  raw-ws runs last and repeats that step at every other target's half rate: "p99 × raw-ws"
  compares at the same load.
- **Server CPU µs/delivery**: user + system CPU of the server process (\`/proc/<pid>/stat\`)
  during the half-rate step ÷ its deliveries. For parley-postgres, the PostgreSQL backends of
  its database and its redis-server are counted apart.
- **Memory/socket**: server RSS (\`/proc/<pid>/status\`) after every socket subscribed and the
  warm-up (plus 20 s idle in the idle scenario, so that V8 has collected what opening the
  sockets left behind; 2 s in the others) − RSS before any socket opened, ÷ sockets. The idle scenario is the one
  the target is about; the fanout scenarios show it too. Garbage collection moves RSS by
  megabytes (parley-embedded's also holds PGlite's WebAssembly heap), so only thousands of
  sockets give a figure per socket worth reading.
- **send-throughput**: \`sendMessage\` over HTTP, \`--send-concurrency\` in flight, closed loop,
  over as many conversations as requests in flight (no shared row lock), no subscribers;
  then \`pgbench\` (Debian's postgresql-client) inserting one message-sized row per
  transaction into an equivalent table, with as many clients, for as long, in the same
  database. "PostgreSQL per send" is the scratch database's \`pg_stat_database\` counters
  over the run ÷ sends: what one \`sendMessage\` costs the store.
- **Exactly once, in order**: every socket checks that each seq is its last + 1; at the end
  every socket must have reached the last seq of its conversation. Parley sockets that are
  closed (4008 slow consumer) resume with \`afterSeq\`, as a real client would, and are
  counted; baselines have no history, so a close there is a loss.

Everything shares the machine's cores: the subscriber and publisher processes take CPU the
servers would otherwise have, equally for every target. A load average well above the
core count at the start means something else was running: rerun. \`--write\` rewrites this
section only: notes on what made a difference belong in a section of their own.`;

export function section(report: Report | null): string {
  const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const latest = report
    ? `Latest run: ${date} UTC, ${report.machine}.\n\n${tables(report)}\n\nReproduce: \`npm run bench -- --write\` (needs PostgreSQL at \`BENCH_DATABASE_URL\`, default
\`postgresql://postgres@127.0.0.1:5432/postgres\`, \`redis-server\` and \`pgbench\` on the PATH, and
\`ulimit -n\` above the socket count; \`--help\` lists every flag).`
    : `Latest run: (numbers pending: run \`npm run bench -- --write\` on a quiet machine).

Reproduce: \`npm run bench -- --write\` (needs PostgreSQL at \`BENCH_DATABASE_URL\`, default
\`postgresql://postgres@127.0.0.1:5432/postgres\`, \`redis-server\` and \`pgbench\` on the PATH, and
\`ulimit -n\` above the socket count; \`--help\` lists every flag). \`npm run bench -- --quick\`
is a smoke run of every target and scenario at small sizes (its numbers mean nothing).`;
  return `${SECTION}\n\n${METHOD}\n\n${latest}\n`;
}

/** Replaces (or appends) this benchmark's section of docs/PERFORMANCE.md, keeping the others. */
export function writeDoc(report: Report | null) {
  let doc = readFileSync(DOC, 'utf8');
  const start = doc.indexOf(SECTION);
  if (start === -1) doc = `${doc.trimEnd()}\n\n${section(report)}`;
  else {
    const after = doc.indexOf('\n## ', start + SECTION.length);
    doc = `${doc.slice(0, start)}${section(report)}${after === -1 ? '' : `\n${doc.slice(after + 1)}`}`;
  }
  writeFileSync(DOC, `${doc.trimEnd()}\n`);
  console.error(`updated ${DOC}`);
}
