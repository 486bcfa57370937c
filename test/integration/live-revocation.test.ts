import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { errorCode, execute, ok } from '../helpers/client.ts';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { connectWs, disposeAllWs, eventually, subscribeWs, type WsClient } from '../helpers/ws.ts';

// Revocations reach sockets that are already open: suspending a tenant closes every socket of
// its users and app servers (4403), revoking an API key closes the sockets it opened (4401).
// Announced on the bus, so every node does it (test/cluster/live-revocation.test.ts).

const Suspend = graphql(`
  mutation Revoke2UpdateTenant($id: ID!, $input: UpdateTenantInput!) {
    updateTenant(id: $id, input: $input) { id status }
  }
`);
const RevokeKey = graphql(`
  mutation Revoke2RevokeApiKey($id: ID!) {
    revokeApiKey(id: $id) { id revokedAt }
  }
`);
const CreateKey = graphql(`
  mutation Revoke2CreateKey($appId: ID!) {
    createApiKey(appId: $appId) { key apiKey { id } }
  }
`);
const Send = graphql(`
  mutation Revoke2Send($input: SendMessageInput!, $asUserId: ID) {
    sendMessage(input: $input, asUserId: $asUserId) { seq }
  }
`);
const Events = graphql(`
  subscription Revoke2Events($conversationId: ID!, $afterSeq: Int, $asUserId: ID) {
    conversationEvents(conversationId: $conversationId, afterSeq: $afterSeq, asUserId: $asUserId) { seq }
  }
`);
const Me = graphql(`
  query Revoke2Me { me { id } }
`);

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
});
afterEach(() => disposeAllWs());
afterAll(() => server?.close());

const admin = () => ({ token: server.adminToken });

/** An app with two users in a group (one message in it), each with an open socket following it. */
async function live(app: SeededApp) {
  const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
  const conversationId = await seedGroup(server, alice, [bob]);
  await ok(server.graphqlUrl, Send, { input: { conversationId, body: 'hello' } }, { token: alice.token });
  const sockets = [connectWs(server, { token: alice.token }), connectWs(server, { token: bob.token })];
  const subs = sockets.map((ws) => subscribeWs(ws, Events, { conversationId, afterSeq: 0 }));
  await Promise.all(sockets.map((ws) => ws.connected));
  await eventually(() => expect(subs.map((s) => s.data.length)).toEqual([1, 1]));
  return { alice, bob, conversationId, sockets, subs };
}

/** An app-server socket following the conversation as `user`; resolves once it has the history. */
async function appSocket(apiKey: string, conversationId: string, user: SeededUser) {
  const ws = connectWs(server, { apiKey });
  const sub = subscribeWs(ws, Events, { conversationId, afterSeq: 0, asUserId: user.id });
  await ws.connected;
  await eventually(() => expect(sub.data.length).toBeGreaterThanOrEqual(1));
  return { ws, sub };
}

/** Proves a socket still works: a new message reaches its subscription. */
async function stillLive(ws: WsClient, conversationId: string, sender: SeededUser, asUserId?: string) {
  const sub = subscribeWs(ws, Events, { conversationId, ...(asUserId ? { asUserId } : {}) });
  const body = `still-${Math.random()}`;
  await eventually(async () => {
    // Live only (no afterSeq): send until one arrives, so the subscription's start is not raced.
    await ok(server.graphqlUrl, Send, { input: { conversationId, body } }, { token: sender.token });
    expect(sub.data.length).toBeGreaterThan(0);
  });
  expect([ws.closed, sub.closed]).toEqual([undefined, undefined]);
}

describe('suspending a tenant', () => {
  it("closes every open socket of its users and app servers with 4403; another tenant's stay", async () => {
    const app = await seedApp(server);
    const { alice, conversationId, sockets, subs } = await live(app);
    const server1 = await appSocket(app.apiKey, conversationId, alice);
    const other = await seedApp(server);
    const bystanders = await live(other);

    await ok(server.graphqlUrl, Suspend, { id: app.tenantId, input: { status: 'SUSPENDED' } }, admin());
    await eventually(() => expect([...sockets, server1.ws].map((ws) => ws.closed?.code)).toEqual([4403, 4403, 4403]));
    expect([...subs, server1.sub].map((s) => s.closed?.code)).toEqual([4403, 4403, 4403]);

    await stillLive(bystanders.sockets[1]!, bystanders.conversationId, bystanders.alice);
    expect(bystanders.sockets.map((ws) => ws.closed)).toEqual([undefined, undefined]);
  });

  it('then refuses new sockets (4403) and requests (FORBIDDEN), until it is active again', async () => {
    const app = await seedApp(server);
    const { alice } = await live(app);
    await ok(server.graphqlUrl, Suspend, { id: app.tenantId, input: { status: 'SUSPENDED' } }, admin());
    for (const cred of [{ token: alice.token }, { apiKey: app.apiKey }]) {
      const ws = connectWs(server, cred);
      await eventually(() => expect(ws.closed).toBeDefined());
      expect([ws.closed?.code, ws.acks]).toEqual([4403, 0]);
    }
    expect(await errorCode(server.graphqlUrl, Me, {}, { token: alice.token })).toBe('FORBIDDEN');

    await ok(server.graphqlUrl, Suspend, { id: app.tenantId, input: { status: 'ACTIVE' } }, admin());
    const back = connectWs(server, { token: alice.token });
    await back.connected;
    expect(back.closed).toBeUndefined();
  });

  it('updating a tenant without suspending it closes nothing', async () => {
    const app = await seedApp(server);
    const { bob, conversationId, sockets } = await live(app);
    await ok(server.graphqlUrl, Suspend, { id: app.tenantId, input: { plan: 'ENTERPRISE' } }, admin());
    await ok(server.graphqlUrl, Suspend, { id: app.tenantId, input: { status: 'ACTIVE' } }, admin());
    await stillLive(sockets[0]!, conversationId, bob);
    expect(sockets.map((ws) => ws.closed)).toEqual([undefined, undefined]);
  });
});

describe('revoking an API key', () => {
  it('closes the sockets opened with that key (4401), not those of another key of the app or its users', async () => {
    const app = await seedApp(server);
    const { alice, bob, conversationId, sockets } = await live(app);
    const { createApiKey } = await ok(server.graphqlUrl, CreateKey, { appId: app.appId }, admin());
    const revoked = [await appSocket(app.apiKey, conversationId, alice), await appSocket(app.apiKey, conversationId, bob)];
    const kept = await appSocket(createApiKey.key, conversationId, alice);

    const { revokeApiKey } = await ok(server.graphqlUrl, RevokeKey, { id: app.apiKeyId }, admin());
    expect(revokeApiKey.revokedAt).toEqual(expect.any(String));
    await eventually(() => expect(revoked.map((s) => s.ws.closed?.code)).toEqual([4401, 4401]));
    expect(revoked.map((s) => s.sub.closed?.code)).toEqual([4401, 4401]);

    await stillLive(kept.ws, conversationId, bob, alice.id);
    await stillLive(sockets[0]!, conversationId, bob);
    expect(sockets.map((ws) => ws.closed)).toEqual([undefined, undefined]);

    // The revoked key is refused from now on; the other key still works.
    const again = connectWs(server, { apiKey: app.apiKey });
    await eventually(() => expect(again.closed).toBeDefined());
    expect([again.closed?.code, again.acks]).toEqual([4401, 0]);
    const res = await execute(server.graphqlUrl, Me, {}, { apiKey: app.apiKey });
    expect([res.status, res.errors?.[0]?.extensions.code]).toEqual([401, 'UNAUTHENTICATED']);
    expect(await ok(server.graphqlUrl, Send, { input: { conversationId, body: 'via B' }, asUserId: alice.id }, { apiKey: createApiKey.key })).toEqual({
      sendMessage: { seq: expect.any(Number) },
    });
  });

  it("revoking a key of another tenant's app leaves this app's sockets open", async () => {
    const app = await seedApp(server);
    const { bob, conversationId } = await live(app);
    const mine = await appSocket(app.apiKey, conversationId, bob);
    const other = await seedApp(server);
    await ok(server.graphqlUrl, RevokeKey, { id: other.apiKeyId }, admin());
    await stillLive(mine.ws, conversationId, bob, bob.id);
  });
});
