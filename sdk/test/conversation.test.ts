import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../../test/helpers/seed.ts';
import { startServer, type TestServer } from '../../test/helpers/server.ts';
import { eventually } from '../../test/helpers/ws.ts';
import type { ConversationView, LocalMessage, ViewMessage } from '../src/index.ts';
import { closeClients, follow, range, sdk } from './support.ts';

let server: TestServer;
let app: SeededApp;
let alice: SeededUser;
let bob: SeededUser;

beforeAll(async () => {
  server = await startServer();
  app = await seedApp(server);
  [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
});
afterEach(() => closeClients());
afterAll(() => server?.close());

const bodies = (messages: ViewMessage[]) => messages.map((m) => m.body);
const isLocal = (m: ViewMessage): m is LocalMessage => m.seq === null;

describe('history', () => {
  it('pages back to the first message, newest page first, each page in seq order', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    const convo = sdk(server.graphqlUrl, { token: alice.token }).conversation(conversationId);
    for (let i = 0; i < 7; i++) await convo.send({ body: `m${i}` }).sent;
    const pages: string[][] = [];
    for await (const page of convo.history({ pageSize: 3 })) pages.push(page.map((m) => m.body));
    expect(pages).toEqual([['m4', 'm5', 'm6'], ['m1', 'm2', 'm3'], ['m0']]);
  });
});

describe('watch', () => {
  it('merges history, live events and local echoes; loads older pages', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    const aliceConvo = sdk(server.graphqlUrl, { token: alice.token }).conversation(conversationId);
    for (let i = 0; i < 5; i++) await aliceConvo.send({ body: `old${i}` }).sent;
    const views: ConversationView[] = [];
    const bobClient = sdk(server.graphqlUrl, { token: bob.token });
    const unwatch = bobClient.conversation(conversationId).watch((v) => views.push(v), { pageSize: 2 });
    const last = () => views.at(-1)!;
    await eventually(() => expect(last().ready).toBe(true));
    expect(bodies(last().messages)).toEqual(['old3', 'old4']);
    expect(last().hasOlder).toBe(true);
    await last().loadOlder();
    await last().loadOlder();
    expect(bodies(last().messages)).toEqual(range(0, 4).map((i) => `old${i}`));
    expect(last().hasOlder).toBe(false);

    await aliceConvo.send({ body: 'live' }).sent;
    await eventually(() => expect(bodies(last().messages).at(-1)).toBe('live'));
    const mine = bobClient.conversation(conversationId).send({ body: 'reply' });
    expect(mine.local).toMatchObject({ status: 'pending', seq: null, body: 'reply' });
    await mine.sent;
    await eventually(() => expect(bodies(last().messages)).toEqual([...range(0, 4).map((i) => `old${i}`), 'live', 'reply']));
    expect(last().messages.at(-1)).toMatchObject({ status: 'SENT', clientId: mine.local.clientId });
    unwatch();
  });

  it('shows a sent message once: the echo, then the server message, even when its event comes before the answer', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    // The answer to sendMessage is held back until the message's event has reached the watch.
    const eventSeen = new Set<string>();
    const slowFetch: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const body = String(init?.body ?? '');
      const sent = /"body":"(echo\d)"/.exec(body);
      if (body.includes('mutation SendMessage') && sent) await eventually(() => expect(eventSeen.has(sent[1]!)).toBe(true));
      return res;
    };
    const client = sdk(server.graphqlUrl, { token: alice.token, fetch: slowFetch });
    const convo = client.conversation(conversationId);
    const views: ConversationView[] = [];
    const unwatch = convo.watch((v) => {
      views.push(v);
    });
    const stopSpy = convo.events((e) => e.__typename === 'MessageCreated' && eventSeen.add(e.message.body), { afterSeq: 0 });
    await eventually(() => expect(views.at(-1)?.ready).toBe(true));
    const first = convo.send({ body: 'echo1' });
    const second = convo.send({ body: 'echo2' });
    await Promise.all([first.sent, second.sent]);
    // (Sent concurrently: either may take the lower seq.)
    await eventually(() => expect(bodies(views.at(-1)!.messages).sort()).toEqual(['echo1', 'echo2']));
    expect(views.at(-1)!.messages.every((m) => !isLocal(m))).toBe(true);
    expect(views.some((v) => v.messages.some((m) => isLocal(m) && m.status === 'pending'))).toBe(true);
    for (const view of views) {
      const shown = bodies(view.messages);
      expect(new Set(shown).size).toBe(shown.length); // never twice
    }
    stopSpy();
    unwatch();
  });

  it('marks a send that cannot succeed as failed, keeping it in the view', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    const convo = sdk(server.graphqlUrl, { token: alice.token }).conversation(conversationId);
    const views: ConversationView[] = [];
    convo.watch((v) => views.push(v));
    await eventually(() => expect(views.at(-1)?.ready).toBe(true));
    const { local, sent } = convo.send({ body: 'x'.repeat(70_000) });
    await expect(sent).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    const shown = views.at(-1)!.messages;
    expect(shown).toHaveLength(1);
    expect(shown[0]).toMatchObject({ clientId: local.clientId, status: 'failed', error: { code: 'PAYLOAD_TOO_LARGE' } });
    convo.discard(local.clientId);
    expect(views.at(-1)!.messages).toEqual([]);
  });

  it('reuses the idempotency key given, so a repeated send returns the original message', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    const convo = sdk(server.graphqlUrl, { token: alice.token }).conversation(conversationId);
    const a = await convo.send({ body: 'once', idempotencyKey: 'k1' }).sent;
    const b = await convo.send({ body: 'once', idempotencyKey: 'k1' }).sent;
    expect(b.id).toBe(a.id);
    const pages = [];
    for await (const page of convo.history()) pages.push(...page);
    expect(pages.map((m) => m.id)).toEqual([a.id]);
  });
});

describe('read, typing, presence', () => {
  it('marks read, and others get the read receipt', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    const aliceClient = sdk(server.graphqlUrl, { token: alice.token });
    const followed = follow(aliceClient, conversationId, 0);
    const message = await aliceClient.conversation(conversationId).send({ body: 'read me' }).sent;
    // Receipts are live only: wait until the stream is live (the message came through it).
    await eventually(() => expect(followed.bodies()).toEqual(['read me']));
    const member = await sdk(server.graphqlUrl, { token: bob.token }).conversation(conversationId).markRead(message.seq);
    expect(member).toMatchObject({ userId: bob.id, lastReadSeq: message.seq });
    await eventually(() => expect(followed.events).toContainEqual(expect.objectContaining({ __typename: 'ReadReceipt', userId: bob.id, lastReadSeq: message.seq })));
  });

  it('throttles typing: one "true" per interval, "false" only after a "true"', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    const bobClient = sdk(server.graphqlUrl, { token: bob.token });
    const followed = follow(bobClient, conversationId, 0);
    const views: ConversationView[] = [];
    bobClient.conversation(conversationId).watch((v) => views.push(v));
    const convo = sdk(server.graphqlUrl, { token: alice.token, typingThrottleMs: 60_000 }).conversation(conversationId);
    // Typing events are live only: wait until both streams are live (a message came through them).
    await convo.send({ body: 'start' }).sent;
    await eventually(() => expect(followed.bodies()).toEqual(['start']));
    await eventually(() => expect(bodies(views.at(-1)!.messages)).toEqual(['start']));
    for (let i = 0; i < 10; i++) convo.typing(true);
    await eventually(() => expect(views.at(-1)!.typingUserIds).toEqual([alice.id]));
    convo.typing(false);
    convo.typing(false);
    await eventually(() => expect(views.at(-1)!.typingUserIds).toEqual([]));
    convo.typing(true); // after a "false", the next "true" goes at once
    const typings = () => followed.events.flatMap((e) => (e.__typename === 'Typing' ? [e.typing] : []));
    await eventually(() => expect(typings()).toHaveLength(3));
    // A persisted event after them: every typing event sent before it has arrived.
    await convo.send({ body: 'done' }).sent;
    await eventually(() => expect(followed.bodies()).toEqual(['start', 'done']));
    expect(typings()).toEqual([true, false, true]);
  });

  it('reports presence: the current state, then changes', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    const seen: { userId: string; online: boolean }[] = [];
    sdk(server.graphqlUrl, { token: alice.token }).presence([bob.id], (p) => seen.push({ userId: p.userId, online: p.online }));
    // (Bob may still be online for a moment from an earlier test's socket.)
    await eventually(() => expect(seen.at(-1)).toEqual({ userId: bob.id, online: false }));
    const bobClient = sdk(server.graphqlUrl, { token: bob.token });
    const followed = follow(bobClient, conversationId); // Bob's socket makes him online
    await eventually(() => expect(seen.at(-1)).toEqual({ userId: bob.id, online: true }));
    followed.stop();
    await eventually(() => expect(seen.at(-1)).toEqual({ userId: bob.id, online: false }));
  });
});
