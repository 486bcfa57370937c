import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { execute, ok } from '../helpers/client.ts';
import { createDatabase } from '../helpers/databases.ts';
import { startProcess, type ParleyProcess } from '../helpers/process.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { connectWs, disposeAllWs, eventually, subscribeWs, type WsSubscription } from '../helpers/ws.ts';

// A cluster of real processes (`node --import tsx src/main.ts`, as `npm start` runs it) on one
// PostgreSQL database and one Redis of the test's own: three API nodes, a worker (the outbox
// relay's sweep), and a fourth API node that reaches Redis through a TCP proxy the test can
// cut. Nodes die for real here (SIGKILL: no shutdown code runs), and Redis goes away and
// comes back; subscribers must still end with every event exactly once, in order.
//
// The tests run in order on one cluster and each kills its own node: node 1 (kill -9 mid-
// stream), the proxied node (crash between commit and publish), node 3 (presence and typing).

const ProcSend = graphql(`
  mutation ProcSend($input: SendMessageInput!) {
    sendMessage(input: $input) { seq }
  }
`);
const ProcEvents = graphql(`
  subscription ProcEvents($conversationId: ID!, $afterSeq: Int) {
    conversationEvents(conversationId: $conversationId, afterSeq: $afterSeq) { seq }
  }
`);
const ProcPresence = graphql(`
  query ProcPresence($userIds: [ID!]!) {
    presence(userIds: $userIds) { userId online }
  }
`);
const ProcPresenceUpdated = graphql(`
  subscription ProcPresenceUpdated($userIds: [ID!]!) {
    presenceUpdated(userIds: $userIds) { userId online }
  }
`);
const ProcTyping = graphql(`
  mutation ProcTyping($conversationId: ID!, $typing: Boolean!) {
    sendTyping(conversationId: $conversationId, typing: $typing)
  }
`);
const ProcTypingEvents = graphql(`
  subscription ProcTypingEvents($conversationId: ID!) {
    conversationEvents(conversationId: $conversationId) { type ... on Typing { userId typing } }
  }
`);

type Events = WsSubscription<{ conversationEvents: { seq: number | null } }>;
/** One client's subscriptions, oldest first: the first one, then one per reconnect. */
type Chain = Events[];
type Node = { name: string; process: ParleyProcess; url: string; graphqlUrl: string; adminToken: string; dead: boolean };

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const seqsOf = (chain: Chain) => chain.flatMap((sub) => sub.data.map((d) => d.conversationEvents.seq));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const PRESENCE_TTL_MS = 1500;
const TYPING_TTL_MS = 1000;
const adminToken = `proc-admin-${randomBytes(12).toString('hex')}`;

let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
let database: Awaited<ReturnType<typeof createDatabase>> | undefined;
let db: pg.Client | undefined;
let proxy: TcpProxy | undefined;
/** API nodes 1, 2 and 3, on Redis directly. */
let nodes: [Node, Node, Node];
/** An API node on Redis through `proxy`. */
let proxied: Node;
let worker: ParleyProcess | undefined;
let started: ParleyProcess[] = [];
let app: SeededApp;

const nodeOf = (name: string, process: ParleyProcess): Node => ({
  name,
  process,
  url: process.url,
  graphqlUrl: `${process.url}/graphql`,
  adminToken,
  dead: false,
});

/** kill -9: the node's sockets drop, nothing of its shutdown runs. */
async function kill(node: Node) {
  node.dead = true;
  expect(await node.process.stop('SIGKILL')).toBeNull();
}

beforeAll(async () => {
  [redis, database] = await Promise.all([startRedis(), createDatabase(inject('adminDatabaseUrl'), 'parley_proc')]);
  proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(redis.url).port) });
  db = new pg.Client({ connectionString: database.url });
  await db.connect();
  const env = {
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    ADMIN_TOKEN: adminToken,
    SECRET_KEY: `proc-secret-${randomBytes(16).toString('hex')}`,
    OUTBOX_SWEEP_MS: '200',
    PRESENCE_TTL_MS: String(PRESENCE_TTL_MS),
    TYPING_TTL_MS: String(TYPING_TTL_MS),
  };
  // All five at once on an empty database: migrations take turns behind their lock.
  const settled = await Promise.allSettled([
    startProcess({ ...env, ROLE: 'api' }, { timeoutMs: 60_000 }),
    startProcess({ ...env, ROLE: 'api' }, { timeoutMs: 60_000 }),
    startProcess({ ...env, ROLE: 'api' }, { timeoutMs: 60_000 }),
    startProcess({ ...env, ROLE: 'api', REDIS_URL: `redis://${proxy.host}:${proxy.port}` }, { timeoutMs: 60_000 }),
    startProcess({ ...env, ROLE: 'worker' }, { timeoutMs: 60_000 }),
  ]);
  started = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  const [p1, p2, p3, pProxied, pWorker] = started as [ParleyProcess, ParleyProcess, ParleyProcess, ParleyProcess, ParleyProcess];
  nodes = [nodeOf('node 1', p1), nodeOf('node 2', p2), nodeOf('node 3', p3)];
  proxied = nodeOf('proxied node', pProxied);
  worker = pWorker;
  app = await seedApp(nodes[0]);
}, 120_000);

afterEach(() => disposeAllWs());

afterAll(async () => {
  await disposeAllWs();
  worker?.child.kill('SIGCONT'); // in case a test failed while the worker was paused
  await Promise.all(
    started.map(async (p) => {
      const timer = setTimeout(() => void p.stop('SIGKILL'), 10_000);
      await p.stop('SIGTERM');
      clearTimeout(timer);
    }),
  );
  await proxy?.close();
  await redis?.stop();
  await db?.end();
  await database?.drop();
}, 60_000);

/** A group of `readers` + `senders` users: its id and the users. */
async function conversation(readers: number, senders: number) {
  const users = (await seedUsers(nodes[1], app, readers + senders)) as SeededUser[];
  const conversationId = await seedGroup(nodes[1], users[0]!, users.slice(1));
  return { conversationId, readers: users.slice(0, readers), senders: users.slice(readers) };
}

/** A conversationEvents subscription from `afterSeq`, on its own socket to `node`. */
async function subscribe(node: Node, user: SeededUser, conversationId: string, afterSeq: number): Promise<Events> {
  const ws = connectWs(node, { token: user.token });
  await ws.connected;
  return subscribeWs(ws, ProcEvents, { conversationId, afterSeq });
}

const unpublished = async (conversationId: string) =>
  (
    await db!.query<{ seq: number }>(
      'SELECT seq FROM conversation_event WHERE conversation_id = $1 AND published_at IS NULL ORDER BY seq',
      [conversationId],
    )
  ).rows.map((r) => Number(r.seq));

describe('a cluster of processes: three API nodes, a worker, PostgreSQL and Redis', () => {
  it('subscribers on nodes 1 and 2 see every event of concurrent senders on all three nodes once, in order', async () => {
    const { conversationId, readers, senders } = await conversation(4, 3);
    const chains: Chain[] = await Promise.all(readers.map(async (reader, i) => [await subscribe(nodes[i % 2]!, reader, conversationId, 0)]));

    const perSender = 40;
    const results = await Promise.all(
      senders.flatMap((sender, i) =>
        range(1, perSender).map((n) =>
          ok(nodes[i]!.graphqlUrl, ProcSend, { input: { conversationId, body: `s${i}-${n}` } }, { token: sender.token }),
        ),
      ),
    );
    const total = senders.length * perSender;
    expect(results.map((r) => r.sendMessage.seq).sort((a, b) => a - b)).toEqual(range(1, total));

    for (const chain of chains) {
      await eventually(() => expect(seqsOf(chain)).toEqual(range(1, total)), 20_000);
      expect(chain[0]!.errors).toEqual([]);
      expect(chain[0]!.ended).toBe(false);
    }
  }, 60_000);

  it('kill -9 of a node mid-stream: its subscribers reconnect elsewhere with afterSeq and miss nothing; senders move to the nodes left', async () => {
    const [node1, node2, node3] = nodes;
    const { conversationId, readers, senders } = await conversation(4, 3);
    // Two subscribers on node 1 (the one that dies), one on each of the others.
    const homes = [node1, node1, node2, node3];
    const chains: Chain[] = await Promise.all(readers.map(async (reader, i) => [await subscribe(homes[i]!, reader, conversationId, 0)]));

    // Each sender sends through its own node, one message after another, each with an
    // idempotency key. A send that fails is retried on a surviving node with the same key
    // (the original comes back if it had committed) — but only if its node was killed:
    // a surviving node must never fail a send.
    const seqs: number[] = [];
    let sending = true;
    const sendAll = async (sender: SeededUser, i: number) => {
      for (let n = 1; sending; n++) {
        const input = { conversationId, body: `s${i}-${n}`, idempotencyKey: `proc-kill-${i}-${n}` };
        for (let attempt = 0; ; attempt++) {
          const alive = nodes.filter((node) => !node.dead);
          const node = nodes[i]!.dead ? alive[(n + attempt) % alive.length]! : nodes[i]!;
          const res = await execute(node.graphqlUrl, ProcSend, { input }, { token: sender.token }).catch((err: unknown) => ({ data: null, errors: [String(err)] }));
          if (res.data?.sendMessage) {
            seqs.push(res.data.sendMessage.seq);
            break;
          }
          if (!node.dead || attempt >= 20) throw new Error(`${node.name} failed message ${input.idempotencyKey}: ${JSON.stringify(res.errors)}`);
          await sleep(50);
        }
      }
    };
    const sending$ = Promise.all(senders.map(sendAll));
    let sendFailed: unknown;
    sending$.catch((err: unknown) => (sendFailed = err));

    // Mid-stream: node 1's subscribers have seen some events, more are on their way.
    await eventually(() => expect(seqsOf(chains[0]!).length).toBeGreaterThanOrEqual(15), 20_000);
    await kill(node1);
    const killedAt = seqs.length;

    // Exactly node 1's clients notice: their sockets closed abnormally (no close frame).
    await eventually(() => expect(chains.map((chain) => chain[0]!.ended)).toEqual([true, true, false, false]));
    for (const chain of chains.slice(0, 2)) expect(chain[0]!.closed?.code).toBe(1006);

    // They reconnect to the surviving nodes and resume after the last seq they saw.
    await Promise.all(
      chains.slice(0, 2).map(async (chain, i) => {
        const afterSeq = seqsOf(chain).at(-1) ?? 0;
        chain.push(await subscribe([node2, node3][i]!, readers[i]!, conversationId, afterSeq));
      }),
    );

    // Senders go on through nodes 2 and 3 for a while, then stop.
    await eventually(() => {
      expect(sendFailed).toBeUndefined();
      expect(seqs.length).toBeGreaterThanOrEqual(killedAt + 30);
    }, 20_000);
    sending = false;
    await sending$;

    // Every send got its own seq (a retried one its original), with no gap.
    const total = seqs.length;
    expect([...seqs].sort((a, b) => a - b)).toEqual(range(1, total));
    for (const chain of chains) {
      await eventually(() => expect(seqsOf(chain)).toEqual(range(1, total)), 20_000);
      for (const sub of chain) expect(sub.errors).toEqual([]);
      expect(chain.at(-1)!.ended).toBe(false);
    }
    // Marked published (the relay marks after the bus took them: eventually, not at once).
    await eventually(async () => expect(await unpublished(conversationId)).toEqual([]));
  }, 60_000);

  it('Redis restarted mid-stream: sends keep succeeding during the outage, and afterwards subscribers get every event, those of the outage from the relay’s sweep', async () => {
    const [, node2, node3] = nodes;
    const { conversationId, readers, senders } = await conversation(4, 2);
    const homes = [node2, node3, node2, node3];
    const chains: Chain[] = await Promise.all(readers.map(async (reader, i) => [await subscribe(homes[i]!, reader, conversationId, 0)]));
    let sent = 0;
    const send = async () => {
      const n = sent + 1;
      const i = n % 2;
      const { sendMessage } = await ok([node2, node3][i]!.graphqlUrl, ProcSend, { input: { conversationId, body: `m${n}` } }, { token: senders[i]!.token });
      expect(sendMessage.seq).toBe(n);
      sent = n;
    };

    // Before: live.
    for (let i = 0; i < 10; i++) await send();
    for (const chain of chains) await eventually(() => expect(seqsOf(chain)).toEqual(range(1, 10)));

    // Redis goes away, and the nodes know it (readiness fails on the bus).
    await redis!.kill();
    for (const node of [node2, node3]) await eventually(async () => expect((await fetch(`${node.url}/readyz`)).status).toBe(503));
    // A commit does not depend on Redis: every send succeeds; none can be published.
    for (let i = 0; i < 10; i++) await send();
    expect(await unpublished(conversationId)).toEqual(range(11, 20));

    // Redis is back (a new, empty server on the same port). No message is sent now: the
    // outage's events reach the subscribers through the worker's sweep alone.
    await redis!.restart();
    for (const chain of chains) await eventually(() => expect(seqsOf(chain)).toEqual(range(1, 20)), 20_000);
    await eventually(async () => expect(await unpublished(conversationId)).toEqual([]));

    // And live again.
    for (let i = 0; i < 5; i++) await send();
    for (const chain of chains) {
      await eventually(() => expect(seqsOf(chain)).toEqual(range(1, 25)));
      expect(chain[0]!.errors).toEqual([]);
      expect(chain[0]!.ended).toBe(false);
    }
  }, 60_000);

  it('a node killed right after a commit, before publishing: the event is still delivered (the worker’s sweep)', async () => {
    const node2 = nodes[1];
    const { conversationId, readers, senders } = await conversation(1, 1);
    const [reader, sender] = [readers[0]!, senders[0]!];
    const chain: Chain = [await subscribe(node2, reader, conversationId, 0)];
    const sendThroughProxied = (body: string) => ok(proxied.graphqlUrl, ProcSend, { input: { conversationId, body } }, { token: sender.token });

    // The proxied node publishes like any other while its link to Redis is up (and back
    // since the last test restarted Redis).
    await eventually(async () => expect((await fetch(`${proxied.url}/readyz`)).status).toBe(200), 10_000);
    expect((await sendThroughProxied('first')).sendMessage.seq).toBe(1);
    await eventually(() => expect(seqsOf(chain)).toEqual([1]));
    await eventually(async () => expect(await unpublished(conversationId)).toEqual([]));

    // Its link to Redis (only its own) is cut. The worker is paused meanwhile, so that its
    // sweep cannot publish the event before the test has looked at it.
    worker!.child.kill('SIGSTOP');
    try {
      proxy!.cut();
      expect((await sendThroughProxied('second')).sendMessage.seq).toBe(2); // committed
      expect(await unpublished(conversationId)).toEqual([2]); // but not published
      await kill(proxied);
    } finally {
      worker!.child.kill('SIGCONT');
    }

    // Nothing else is sent: the worker's sweep publishes it, and the subscriber on node 2 gets it.
    await eventually(() => expect(seqsOf(chain)).toEqual([1, 2]), 20_000);
    // The relay marks it published once the bus took it, in the same transaction: just after.
    await eventually(async () => expect(await unpublished(conversationId)).toEqual([]));
    expect(chain[0]!.errors).toEqual([]);
    expect(chain[0]!.ended).toBe(false);
  }, 60_000);

  it('a killed node’s users go offline and its typists stop typing, on the surviving nodes', async () => {
    const [, nodeB, nodeA] = nodes; // node 3 dies, node 2 watches
    const { conversationId, readers, senders } = await conversation(1, 1);
    const [watcher, typist] = [readers[0]!, senders[0]!];

    const watcherWs = connectWs(nodeB, { token: watcher.token });
    await watcherWs.connected;
    const presence = subscribeWs(watcherWs, ProcPresenceUpdated, { userIds: [typist.id] });
    const typing = subscribeWs(watcherWs, ProcTypingEvents, { conversationId });
    const presenceOnB = async () => (await ok(nodeB.graphqlUrl, ProcPresence, { userIds: [typist.id] }, { token: watcher.token })).presence;

    // The typist is online through a socket to node 3, as node 2 sees it.
    const typistWs = connectWs(nodeA, { token: typist.token });
    await typistWs.connected;
    await eventually(async () => expect(await presenceOnB()).toEqual([{ userId: typist.id, online: true }]));

    // They type (through node 3), until node 2's subscriber has seen it...
    const typingOf = () => typing.data.map((d) => d.conversationEvents).filter((e) => 'typing' in e && e.userId === typist.id);
    await eventually(async () => {
      await ok(nodeA.graphqlUrl, ProcTyping, { conversationId, typing: true }, { token: typist.token });
      expect(typingOf().length).toBeGreaterThan(0);
    });
    // ...and node 3 dies at once, well before the typing lapses (TYPING_TTL_MS): it cannot be
    // the one that ends it, nor the one that takes the socket out of presence.
    await kill(nodeA);
    await eventually(() => expect(typistWs.closed?.code).toBe(1006));

    // Within PRESENCE_TTL_MS (no timing asserted: generous waits), each of the three; all are
    // awaited, so that a failure names every one that did not happen.
    const outcomes = await Promise.allSettled([
      eventually(async () => expect(await presenceOnB()).toEqual([{ userId: typist.id, online: false }]), 4 * PRESENCE_TTL_MS + 10_000),
      eventually(() => expect(presence.data.at(-1)?.presenceUpdated).toEqual({ userId: typist.id, online: false }), 4 * PRESENCE_TTL_MS + 10_000),
      eventually(() => expect(typingOf().at(-1)).toMatchObject({ userId: typist.id, typing: false }), 4 * TYPING_TTL_MS + 10_000),
    ]);
    const what = ['presence on node 2 says offline', 'presenceUpdated on node 2 delivers online: false', 'typing on node 2 ends with typing: false'];
    expect(outcomes.flatMap((o, i) => (o.status === 'rejected' ? [`${what[i]}: ${String(o.reason)}`] : []))).toEqual([]);
    // One "stopped", though every surviving node reaps the shared set.
    expect(typingOf().filter((e) => 'typing' in e && e.typing === false)).toHaveLength(1);
    expect([presence.errors, typing.errors]).toEqual([[], []]);
  }, 60_000);
});
