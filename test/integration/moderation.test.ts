import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { execute, ok } from '../helpers/client.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// The moderation hook (issue 6, item 6): asked before a message is stored, signed as webhooks
// are; allow, reject (the sender gets the reason), rewrite; a hook that times out or answers
// nonsense fails open or closed, as the app chose.

const SetHook = graphql(`
  mutation ModSet($input: SetModerationHookInput!) { setModerationHook(input: $input) { secret hook { url failOpen timeoutMs } } }
`);
const RemoveHook = graphql(`mutation ModRemove { removeModerationHook }`);
const Hook = graphql(`query ModHook { moderationHook { url } }`);
const Send = graphql(`
  mutation ModSend($input: SendMessageInput!) { sendMessage(input: $input) { id body metadata } }
`);
const Edit = graphql(`mutation ModEdit($id: ID!, $body: String!) { editMessage(id: $id, body: $body) { id body } }`);

let server: TestServer;
const receivers: Awaited<ReturnType<typeof startReceiver>>[] = [];
beforeAll(async () => {
  server = await startServer({ WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' });
});
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
});
afterAll(() => server?.close());

type Answer = Parameters<typeof startReceiver>[0];
async function setup(answer: Answer, hook: { failOpen?: boolean; timeoutMs?: number } = {}) {
  const app = await seedApp(server);
  const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
  const conversationId = await seedGroup(server, alice, [bob]);
  const receiver = await startReceiver(answer);
  receivers.push(receiver);
  const { setModerationHook } = await ok(server.graphqlUrl, SetHook, { input: { url: receiver.url, ...hook } }, { apiKey: app.apiKey });
  return { app, alice, conversationId, receiver, secret: setModerationHook.secret };
}
const json = (value: unknown): Answer => (_n, _req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(value));
const send = (user: SeededUser, conversationId: string, body: string, metadata?: Record<string, unknown>) =>
  execute(server.graphqlUrl, Send, { input: { conversationId, body, metadata } }, { token: user.token });
const stored = (app: SeededApp) => server.deps.db.prisma.message.findMany({ where: { conversation: { appId: app.appId } } });

describe('the moderation hook', () => {
  it('allow: the hook gets the draft, signed (standardwebhooks verifies it), and the message is stored as sent', async () => {
    const { alice, conversationId, receiver, secret } = await setup(json({ action: 'allow' }));
    const res = await send(alice, conversationId, 'hello there', { lang: 'en' });
    expect(res.data?.sendMessage).toMatchObject({ body: 'hello there', metadata: { lang: 'en' } });
    const [request] = receiver.received;
    const payload = new Webhook(secret).verify(request!.body, request!.headers as Record<string, string>) as { type: string; data: Record<string, unknown> };
    expect(payload).toMatchObject({ type: 'message.moderate', data: { conversationId, senderId: expect.any(String), kind: 'create', body: 'hello there', metadata: { lang: 'en' } } });
  });

  it('reject: the sender gets the reason as BAD_USER_INPUT on input.body, and nothing is stored', async () => {
    const { app, alice, conversationId } = await setup(json({ action: 'reject', reason: 'No shouting, please' }));
    const res = await send(alice, conversationId, 'HEY');
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', moderation: 'rejected', issues: [{ path: 'input.body', message: 'No shouting, please' }] });
    expect(res.errors?.[0]?.message).toBe('No shouting, please');
    expect(await stored(app)).toHaveLength(0);
  });

  it('rewrite: what the hook returns is stored; an edit is reviewed too', async () => {
    const { alice, conversationId, receiver } = await setup((n, req, res) => {
      const { data } = JSON.parse(req.body) as { data: { body: string; kind: string } };
      void n;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ action: 'rewrite', body: data.body.replace(/darn/g, '****'), metadata: { moderated: data.kind } }));
    });
    const sent = await send(alice, conversationId, 'darn it');
    expect(sent.data?.sendMessage).toMatchObject({ body: '**** it', metadata: { moderated: 'create' } });
    const edited = await ok(server.graphqlUrl, Edit, { id: sent.data!.sendMessage.id, body: 'darn again' }, { token: alice.token });
    expect(edited.editMessage.body).toBe('**** again');
    expect(JSON.parse(receiver.received[1]!.body).data).toMatchObject({ kind: 'edit', messageId: sent.data!.sendMessage.id });
  });

  it('a rewrite is held to the same limits: a body over the size is refused, nothing stored', async () => {
    const { app, alice, conversationId } = await setup(json({ action: 'rewrite', body: 'x'.repeat(server.deps.config.maxMessageBytes + 1) }));
    expect((await send(alice, conversationId, 'short')).errors?.[0]?.extensions.code).toBe('PAYLOAD_TOO_LARGE');
    expect(await stored(app)).toHaveLength(0);
  });

  it('fail closed (the default): a hook that times out, errs or answers nonsense refuses the message (FORBIDDEN)', async () => {
    for (const answer of [() => undefined, () => 500, json({ action: 'maybe' })] as Answer[]) {
      const { app, alice, conversationId } = await setup(answer, { timeoutMs: 300 });
      const res = await send(alice, conversationId, 'anyone?');
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', moderation: 'unavailable' });
      expect(await stored(app)).toHaveLength(0);
    }
  });

  it('fail open: the same failures let the message through unchanged', async () => {
    for (const answer of [() => undefined, () => 500, json({ action: 'maybe' })] as Answer[]) {
      const { alice, conversationId } = await setup(answer, { timeoutMs: 300, failOpen: true });
      expect((await send(alice, conversationId, 'through anyway')).data?.sendMessage?.body).toBe('through anyway');
    }
  });

  it('removing the hook stops the reviews; a private URL is refused without WEBHOOK_ALLOW_PRIVATE_TARGETS', async () => {
    const { app, alice, conversationId, receiver } = await setup(json({ action: 'reject' }));
    expect((await ok(server.graphqlUrl, RemoveHook, {}, { apiKey: app.apiKey })).removeModerationHook).toBe(true);
    expect((await ok(server.graphqlUrl, Hook, {}, { apiKey: app.apiKey })).moderationHook).toBeNull();
    expect((await send(alice, conversationId, 'free again')).data?.sendMessage?.body).toBe('free again');
    expect(receiver.received).toHaveLength(0);

    const strict = await startServer();
    try {
      const other = await seedApp(strict);
      const res = await execute(strict.graphqlUrl, SetHook, { input: { url: 'http://127.0.0.1:9/moderate' } }, { apiKey: other.apiKey });
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', issues: [expect.objectContaining({ path: 'input.url' })] });
    } finally {
      await strict.close();
    }
  });
});
