import { getOperationAST } from 'graphql';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { topics } from '../../src/events/event-map.ts';
import { graphql } from '../generated/index.ts';
import { ok } from '../helpers/client.ts';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { connectWs, disposeAllWs, eventually, subscribeWs, type WsSubscription } from '../helpers/ws.ts';

/**
 * The direct fanout path (http/direct-writer.ts, http/shared-frames.ts) over real sockets:
 * subscribers of one conversation that sent different documents, or the same document with
 * different variables, each get exactly their own selection, every seq once and in order,
 * whichever path (direct, or graphql-ws's own execution) carried each event.
 *
 * The server runs in this process: `sharedPayload` is wrapped (calling the real one) to see
 * which subscriber had which event written directly, with which shape key, so that a direct
 * path that silently stopped being taken would fail here too.
 */
type SharedCall = { event: { seq?: number | null; conversationId?: string; type?: string }; key: string; name: string; variables: Record<string, unknown>; payload: string | undefined };
const spy = vi.hoisted(() => ({ calls: [] as SharedCall[] }));
vi.mock(import('../../src/http/shared-frames.ts'), async (importOriginal) => {
  const actual = await importOriginal();
  return {
    ...actual,
    sharedPayload: (event, shape) => {
      const payload = actual.sharedPayload(event, shape);
      const name = getOperationAST(shape.args.document, shape.args.operationName)?.name?.value ?? '';
      spy.calls.push({ event: event as SharedCall['event'], key: shape.key, name, variables: { ...shape.args.variableValues }, payload });
      return payload;
    },
  };
});

const Full = graphql(`
  subscription SharedFramesFull($conversationId: ID!, $afterSeq: Int) {
    conversationEvents(conversationId: $conversationId, afterSeq: $afterSeq) {
      __typename
      type
      conversationId
      seq
      ... on MessageCreated { message { id body sender { id } } }
      ... on MemberLeft { userId }
    }
  }
`);
const Slim = graphql(`
  subscription SharedFramesSlim($conversationId: ID!, $afterSeq: Int) {
    conversationEvents(conversationId: $conversationId, afterSeq: $afterSeq) { number: seq type }
  }
`);
const MaybeBody = graphql(`
  subscription SharedFramesMaybeBody($conversationId: ID!, $afterSeq: Int, $withBody: Boolean!) {
    conversationEvents(conversationId: $conversationId, afterSeq: $afterSeq) {
      __typename
      type
      conversationId
      seq
      ... on MessageCreated { message { id body @include(if: $withBody) sender { id } } }
      ... on MemberLeft { userId }
    }
  }
`);
const Inbox = graphql(`
  subscription SharedFramesInbox {
    inboxEvents {
      kind: __typename
      conversationId
      seq
      ... on MessageCreated { message { text: body } }
      ... on MemberLeft { userId }
    }
  }
`);
const Send = graphql(`
  mutation SharedFramesSend($input: SendMessageInput!) {
    sendMessage(input: $input) { id seq body sender { id } }
  }
`);
const Typing = graphql(`
  mutation SharedFramesTyping($conversationId: ID!) {
    sendTyping(conversationId: $conversationId, typing: false)
  }
`);
const RemoveMember = graphql(`
  mutation SharedFramesRemoveMember($conversationId: ID!, $userId: ID!) {
    removeMember(conversationId: $conversationId, userId: $userId) { id }
  }
`);

type Sent = { id: string; seq: number; body: string; senderId: string };

let server: TestServer;
let app: SeededApp;

beforeAll(async () => {
  server = await startServer();
  app = await seedApp(server);
});
afterEach(() => disposeAllWs());
afterAll(() => server?.close());

async function send(user: SeededUser, conversationId: string, body: string): Promise<Sent> {
  const m = (await ok(server.graphqlUrl, Send, { input: { conversationId, body } }, { token: user.token })).sendMessage;
  return { id: m.id, seq: m.seq, body: m.body, senderId: m.sender.id };
}

/** Which subscriber asked for a shared payload: its operation and the variable that tells it apart. */
const who = (call: SharedCall) =>
  call.name === 'SharedFramesFull'
    ? `Full@${String(call.variables.afterSeq)}`
    : call.name === 'SharedFramesMaybeBody'
      ? `MaybeBody:${String(call.variables.withBody)}`
      : call.name;
/** The calls for one persisted event of a conversation (every copy of it, on every topic). */
const callsFor = (conversationId: string, seq: number) => spy.calls.filter((call) => call.event.conversationId === conversationId && call.event.seq === seq);

const created = (conversationId: string, m: Sent) => ({ __typename: 'MessageCreated', type: 'conversation.message.created', conversationId, seq: m.seq });
const fullOf = (conversationId: string, m: Sent) => ({ ...created(conversationId, m), message: { id: m.id, body: m.body, sender: { id: m.senderId } } });

describe('shared frames: each subscriber gets its own selection', () => {
  it('four shapes on one conversation (and a fifth subscriber replaying first, then live), plus an inbox: each its own data, every seq once and in order', async () => {
    const [owner, a, b, c] = (await seedUsers(server, app, 4)) as [SeededUser, SeededUser, SeededUser, SeededUser];
    const conversationId = await seedGroup(server, owner, [a, b, c]);

    // The inbox is live only: it must be listening before the first message.
    const socketA = connectWs(server, { token: a.token });
    const inbox = subscribeWs(socketA, Inbox, {});
    await eventually(async () => {
      await ok(server.graphqlUrl, Typing, { conversationId }, { token: owner.token });
      expect(inbox.data.length).toBeGreaterThan(0);
    });
    /** The inbox's persisted events (the typing indicators above have no seq), by seq. */
    const inboxEvents = () => inbox.data.map((d) => d.inboxEvents).filter((e) => e?.seq !== null).sort((x, y) => (x?.seq ?? 0) - (y?.seq ?? 0));

    // From the start of the log: they miss nothing, whenever the server sets them up.
    const subA = subscribeWs(socketA, Full, { conversationId, afterSeq: 0 });
    const subB = subscribeWs(connectWs(server, { token: b.token }), Slim, { conversationId, afterSeq: 0 });
    const socketC = connectWs(server, { token: c.token });
    const subC = subscribeWs(socketC, MaybeBody, { conversationId, afterSeq: 0, withBody: false });
    // The same document as C's on the same socket, the variable in its selection the other way.
    const subC2 = subscribeWs(socketC, MaybeBody, { conversationId, afterSeq: 0, withBody: true });
    const conversationSubs = [subA, subB, subC, subC2] as WsSubscription<unknown>[];

    const sent: Sent[] = [];
    let subD: WsSubscription<unknown> | undefined;
    /** The last seq a conversation subscription has received (D starts after seq 1). */
    const reached = (s: WsSubscription<unknown>) => s.data.length + (s === subD ? 1 : 0);
    /** Sends one message and waits until every subscription in `subs` has it: they are all idle (parked) again. */
    const sendAndWait = async (user: SeededUser, body: string, subs: WsSubscription<unknown>[]) => {
      const m = await send(user, conversationId, body);
      sent.push(m);
      await eventually(() => subs.forEach((s) => expect(reached(s)).toBe(m.seq)));
      return m;
    };
    // Messages 1..3, before D subscribes.
    for (const [i, user] of [owner, a, owner].entries()) await sendAndWait(user, `early ${i + 1}`, conversationSubs);

    // D: A's document on another socket (another user), after seq 1: replays 2..3 from the log, then live.
    const fromSeq1 = subscribeWs(connectWs(server, { token: owner.token }), Full, { conversationId, afterSeq: 1 });
    subD = fromSeq1 as WsSubscription<unknown>;
    await eventually(() => expect(reached(subD!)).toBe(3));
    const everyone = [...conversationSubs, subD];

    // Live one at a time (every subscriber idle when each arrives), then a concurrent burst.
    const calm: Sent[] = [];
    for (const [i, user] of [a, owner, c, owner].entries()) calm.push(await sendAndWait(user, `calm ${i + 1}`, everyone));
    const burst = await Promise.all([owner, a, c, owner, a, c, b, b].map((user, i) => send(user, conversationId, `burst ${i + 1}`)));
    sent.push(...burst);
    sent.sort((x, y) => x.seq - y.seq);
    const last = sent.length;
    expect(sent.map((m) => m.seq)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    await eventually(() => everyone.forEach((s) => expect(reached(s)).toBe(last)));
    await eventually(() => expect(inboxEvents().length).toBe(last));

    // Each subscriber: exactly its own selection of every event, each seq once, in order.
    const expectedA = sent.map((m) => ({ conversationEvents: fullOf(conversationId, m) }));
    expect(subA.data).toEqual(expectedA);
    expect(fromSeq1.data).toEqual(expectedA.slice(1)); // A and D agree, replayed and live alike
    expect(subB.data).toEqual(sent.map((m) => ({ conversationEvents: { number: m.seq, type: 'conversation.message.created' } })));
    expect(subC.data).toEqual(sent.map((m) => ({ conversationEvents: { ...created(conversationId, m), message: { id: m.id, sender: { id: m.senderId } } } })));
    expect(subC2.data).toEqual(expectedA);
    expect(inboxEvents()).toEqual(sent.map((m) => ({ kind: 'MessageCreated', conversationId, seq: m.seq, message: { text: m.body } })));
    for (const s of [...everyone, inbox] as WsSubscription<unknown>[]) expect([s.errors, s.ended]).toEqual([[], false]);

    // The direct path was taken: every live event that came while all were idle was written
    // directly to each subscriber. A and D (one document, different afterSeq) shared one key
    // and one payload; C and C2 (one document, different $withBody) did not; nor B or the inbox.
    for (const m of calm) {
      const calls = callsFor(conversationId, m.seq);
      expect(calls.map(who).sort()).toEqual(['Full@0', 'Full@1', 'MaybeBody:false', 'MaybeBody:true', 'SharedFramesInbox', 'SharedFramesSlim']);
      for (const call of calls) expect(call.payload, who(call)).toBeTypeOf('string');
      const byWho = new Map(calls.map((call) => [who(call), call]));
      expect(byWho.get('Full@1')!.key).toBe(byWho.get('Full@0')!.key);
      expect(byWho.get('Full@1')!.payload).toBe(byWho.get('Full@0')!.payload);
      expect(new Set(calls.map((call) => call.key)).size).toBe(5);
      expect(JSON.parse(byWho.get('Full@0')!.payload!)).toEqual({ data: expectedA[m.seq - 1] });
      expect(JSON.parse(byWho.get('MaybeBody:false')!.payload!)).toEqual({ data: subC.data[m.seq - 1] });
    }
    // Replayed events (read back from the log) are never handed to the direct path.
    expect(spy.calls.filter((call) => who(call) === 'Full@1' && call.event.seq! <= 3)).toEqual([]);
  });

  it('a removed member gets their own MemberLeft, not directly, and their subscriptions complete; the others get it directly and go on', async () => {
    const [owner, stays, leaves] = (await seedUsers(server, app, 3)) as [SeededUser, SeededUser, SeededUser];
    const conversationId = await seedGroup(server, owner, [stays, leaves]);
    const kept = subscribeWs(connectWs(server, { token: stays.token }), Full, { conversationId, afterSeq: 0 });
    const socket = connectWs(server, { token: leaves.token });
    const leavingFull = subscribeWs(socket, Full, { conversationId, afterSeq: 0 });
    const leavingSlim = subscribeWs(socket, Slim, { conversationId, afterSeq: 0 });
    const subs = [kept, leavingFull, leavingSlim] as WsSubscription<unknown>[];

    const sent: Sent[] = [];
    for (const body of ['one', 'two']) {
      sent.push(await send(owner, conversationId, body));
      await eventually(() => subs.forEach((s) => expect(s.data.length).toBe(sent.length)));
    }
    await ok(server.graphqlUrl, RemoveMember, { conversationId, userId: leaves.id }, { token: owner.token });
    await eventually(() => expect([leavingFull.ended, leavingSlim.ended]).toEqual([true, true]));
    await eventually(() => expect(kept.data.length).toBe(3));
    const after = await send(owner, conversationId, 'after they left');
    await eventually(() => expect(kept.data.length).toBe(4));

    const left = { __typename: 'MemberLeft', type: 'conversation.member.left', conversationId, seq: 3, userId: leaves.id };
    const full = [...sent.map((m) => fullOf(conversationId, m)), left].map((e) => ({ conversationEvents: e }));
    expect(kept.data).toEqual([...full, { conversationEvents: fullOf(conversationId, after) }]);
    expect(leavingFull.data).toEqual(full);
    expect(leavingSlim.data).toEqual([
      ...sent.map((m) => ({ conversationEvents: { number: m.seq, type: 'conversation.message.created' } })),
      { conversationEvents: { number: 3, type: 'conversation.member.left' } },
    ]);
    for (const s of subs) expect(s.errors).toEqual([]);
    expect(kept.ended).toBe(false);

    // The live message went directly to all three; the departure only to the one who stays
    // (the leaver's two go through the queued path, which ends their streams).
    expect(callsFor(conversationId, 2).map((call) => [who(call), typeof call.payload]).sort()).toEqual([
      ['Full@0', 'string'],
      ['Full@0', 'string'],
      ['SharedFramesSlim', 'string'],
    ]);
    expect(callsFor(conversationId, 3).map((call) => [who(call), typeof call.payload])).toEqual([['Full@0', 'string']]);
  });
});

/**
 * Wraps `bus.publish` (restore it with the function returned): each publish of a persisted
 * event on the conversation's topic goes to `route` with a `deliver` that hands it to the real
 * bus, now, later or never; every other publish passes straight through.
 */
function routeConversationTopic(conversationId: string, route: (seq: number, deliver: () => void) => void) {
  const bus = server.deps.bus;
  const original = bus.publish;
  const topic = topics.conversation(app.appId, conversationId);
  bus.publish = (to, payload) => {
    if (to !== topic) return original.call(bus, to, payload as never);
    route((payload as { seq: number }).seq, () => void original.call(bus, to, payload as never));
    return Promise.resolve(); // taken: the outbox counts it published
  };
  return () => void (bus.publish = original);
}

describe('shared frames: a gap on the bus is never written directly', () => {
  /**
   * Two live subscribers (two shapes, two sockets), idle (parked) after seqs 1 and 2 (seq 1
   * may come from the log, seq 2 is written directly); `disturb` breaks the bus for seq 3 while 3 and 4 are sent;
   * then 5 arrives normally. `disturb` takes a conversation-topic publish (returns true: it
   * delivers it later, or never) or leaves it to be delivered now. Returns the seqs the bus
   * delivered while disturbed, in order.
   */
  async function withDisturbedBus(disturb: (seq: number, deliver: () => void) => boolean) {
    const [owner, a, b] = (await seedUsers(server, app, 3)) as [SeededUser, SeededUser, SeededUser];
    const conversationId = await seedGroup(server, owner, [a, b]);
    const full = subscribeWs(connectWs(server, { token: a.token }), Full, { conversationId, afterSeq: 0 });
    const slim = subscribeWs(connectWs(server, { token: b.token }), Slim, { conversationId, afterSeq: 0 });
    const subs = [full, slim] as WsSubscription<unknown>[];
    const sent: Sent[] = [];
    const sendAndWait = async (body: string) => {
      const m = await send(owner, conversationId, body);
      sent.push(m);
      await eventually(() => subs.forEach((s) => expect(s.data.length).toBe(m.seq)));
    };
    await sendAndWait('one');
    await sendAndWait('two');

    /** The seqs the real bus delivered on the conversation's topic, in the order it did. */
    const delivered: number[] = [];
    /** True once `disturb` has taken seq 3 (held back or dropped). */
    let took3 = false;
    const restore = routeConversationTopic(conversationId, (seq, deliver) => {
      const deliverIt = () => {
        delivered.push(seq);
        deliver();
      };
      if (disturb(seq, deliverIt)) took3 ||= seq === 3;
      else deliverIt();
    });
    try {
      sent.push(await send(owner, conversationId, 'three'));
      await eventually(() => expect(took3).toBe(true));
      await sendAndWait('four');
    } finally {
      restore();
    }
    await sendAndWait('five');
    expect(sent.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);

    // Every seq once, in order, each subscriber its own selection.
    expect(full.data).toEqual(sent.map((m) => ({ conversationEvents: fullOf(conversationId, m) })));
    expect(slim.data).toEqual(sent.map((m) => ({ conversationEvents: { number: m.seq, type: 'conversation.message.created' } })));
    for (const s of subs) expect([s.errors, s.ended]).toEqual([[], false]);

    // Both were parked (2 and 5 were written directly to each); 4 came past a gap and was
    // not, nor 3 (read from the log, or late and already emitted).
    const directTo = (seq: number) => callsFor(conversationId, seq).map((call) => [who(call), typeof call.payload]).sort();
    for (const seq of [2, 5]) expect(directTo(seq), `seq ${seq}`).toEqual([['Full@0', 'string'], ['SharedFramesSlim', 'string']]);
    expect(directTo(3)).toEqual([]);
    expect(directTo(4)).toEqual([]);
    return delivered;
  }

  it('reordered: seq 3 reaches the bus only after seq 4; parked subscribers still get 1..5 once, in order', async () => {
    let held: (() => void) | undefined;
    const delivered = await withDisturbedBus((seq, deliver) => {
      if (seq === 3) {
        held = deliver;
        return true;
      }
      if (seq === 4) {
        deliver();
        held!(); // the late one, after the next
        return true;
      }
      return false;
    });
    expect(delivered).toEqual([4, 3]); // the bus really delivered 4 before 3
  });

  it('lost: seq 3 never reaches the bus; seq 4 reveals the gap and parked subscribers still get 1..5 once, in order', async () => {
    const delivered = await withDisturbedBus((seq) => seq === 3);
    expect(delivered).toEqual([4]); // 3 was never delivered
  });
});
