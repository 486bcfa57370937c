import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { ok } from '../helpers/client.ts';
import { seedApp, seedGroup, seedUser, type SeededApp } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { disposeAllWs, eventually, rawConnect, wsUrl } from '../helpers/ws.ts';

// WebSocket messages per second per socket (issue 5, item 4): the tenant's wsMessagesPerSecond,
// with a burst of twice that; over it the socket is closed with 4029. Before connection_init
// is accepted a client may send only a few.

const Limits = graphql(`
  mutation WsRateLimits($id: ID!, $limits: TenantLimitsInput!) {
    updateTenant(id: $id, input: { limits: $limits }) { limits { wsMessagesPerSecond } }
  }
`);
const Events = graphql(`
  subscription WsRateEvents($conversationId: ID!) {
    conversationEvents(conversationId: $conversationId) { seq }
  }
`);

let server: TestServer;
let app: SeededApp;

beforeAll(async () => {
  server = await startServer();
  app = await seedApp(server);
  const { updateTenant } = await ok(server.graphqlUrl, Limits, { id: app.tenantId, limits: { wsMessagesPerSecond: 3 } }, { token: server.adminToken });
  expect(updateTenant.limits.wsMessagesPerSecond).toBe(3);
});
afterEach(() => disposeAllWs());
afterAll(() => server?.close());

const ping = (socket: WebSocket) => socket.send(JSON.stringify({ type: 'ping' }));
const pongs = (raw: { messages: { type: string }[] }) => raw.messages.filter((m) => m.type === 'pong').length;

describe('WebSocket messages per second per socket', () => {
  // The flood is sent back to back: it closes the socket long before the bucket (one token per
  // 333 ms) could refill enough to let it all through, however slow the machine.
  it('a burst of twice the rate is answered; a flood past it closes the socket with 4029, naming the limit', async () => {
    const raw = await rawConnect(server, { apiKey: app.apiKey });
    for (let i = 0; i < 6; i++) ping(raw.socket);
    await eventually(() => expect(pongs(raw)).toBe(6));
    for (let i = 0; i < 20; i++) ping(raw.socket);
    expect(await raw.closed).toEqual({ code: 4029, reason: 'At most 3 messages per second per socket' });
    expect(pongs(raw)).toBeLessThan(26);
  });

  it('the budget refills: a client that keeps to the rate is never cut off, and its subscriptions work', async () => {
    const alice = await seedUser(server, app);
    const conversationId = await seedGroup(server, alice, [await seedUser(server, app)]);
    const raw = await rawConnect(server, { token: alice.token });
    raw.subscribe('events', Events, { conversationId });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 3; i++) ping(raw.socket);
      await sleep(1100);
    }
    await eventually(() => expect(pongs(raw)).toBe(9));
    expect(raw.socket.readyState).toBe(WebSocket.OPEN);
  });

  it('the limit is per socket: a second socket of the same user has its own budget', async () => {
    const alice = await seedUser(server, app);
    const [first, second] = [await rawConnect(server, { token: alice.token }), await rawConnect(server, { token: alice.token })];
    for (let i = 0; i < 20; i++) ping(first.socket);
    expect((await first.closed).code).toBe(4029);
    for (let i = 0; i < 6; i++) ping(second.socket);
    await eventually(() => expect(pongs(second)).toBe(6));
    expect(second.socket.readyState).toBe(WebSocket.OPEN);
  });

  it('before connection_init is accepted, a flood is cut off at once', async () => {
    const socket = new WebSocket(wsUrl(server), 'graphql-transport-ws');
    socket.on('error', () => {});
    await once(socket, 'open');
    const closed = once(socket, 'close');
    for (let i = 0; i < 50; i++) ping(socket);
    const [code, reason] = (await closed) as [number, Buffer];
    expect(code).toBe(4029);
    expect(String(reason)).toBe('At most 5 messages per second per socket');
  });
});
