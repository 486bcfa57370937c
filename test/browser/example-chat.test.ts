import { randomBytes } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExample, type ExampleServer } from '../../examples/chat/server.ts';
import { graphql } from '../generated/index.ts';
import { ok } from '../helpers/client.ts';
import { launchChromium, pageProblems, screenshot } from '../helpers/browser.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

// The SDK's example chat page (examples/chat) in real Chromium: two people chat, one loses her
// network and comes back to every message exactly once, in order, and what she wrote while
// away is sent once.
//
// Cutting the network: `context.setOffline(true)` fails new requests and sockets, but Chromium
// leaves a WebSocket that is already open running (messages and pings still flow), so nothing
// would notice the loss. Alice's page therefore reaches Parley through a TCP proxy, and going
// offline is both: the proxy drops her open connections, and setOffline keeps new ones from
// being made (and tells the page, navigator.onLine, that it is offline).

const ExampleRoomMessages = graphql(`
  query ExampleRoomMessages($host: ID!, $id: ID!) {
    messages(asUserId: $host, conversationId: $id, last: 100) { edges { node { id seq body sender { displayName } } } }
  }
`);

type Row = { id: string; status: string; body: string; seq: string | undefined };
const rows = (page: Page): Promise<Row[]> =>
  page.$$eval('#messages li', (lis) =>
    lis.map((li) => ({ id: li.dataset.id!, status: li.dataset.status!, body: li.querySelector('.body')!.textContent!, seq: li.dataset.seq })),
  );
const bodies = async (page: Page) => (await rows(page)).map((r) => `${r.body} (${r.status})`);
const badge = (page: Page) => page.$eval('#status', (el) => ({ shown: el.dataset.state, connection: el.dataset.connection }));

// Chromium reports each refused request and socket of an offline page as a console error.
const OFFLINE_NOISE = [/ERR_INTERNET_DISCONNECTED/, /ERR_CONNECTION_(RESET|CLOSED|REFUSED)/, /WebSocket connection to .* failed/];

let server: TestServer;
let proxy: TcpProxy;
let example: ExampleServer;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  server = await startServer();
  proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(server.url).port) });
  example = await startExample({
    parleyUrl: server.url,
    adminToken: server.adminToken,
    port: 0,
    tokenTtlSeconds: 60,
    tenantName: `Example ${randomBytes(4).toString('hex')}`,
  });
  browser = await launchChromium();
});

afterAll(async () => {
  for (const context of contexts) await context.close();
  await browser?.close();
  await example?.close();
  await proxy?.close();
  await server?.close();
});

/** A person in a browser context of their own, joined to the room. */
async function join(name: string, { viaProxy = false } = {}) {
  const context = await browser.newContext({ viewport: { width: 720, height: 640 } });
  contexts.push(context);
  let expiresAt = '';
  let firstToken = '';
  if (viaProxy) {
    // Same page, same backend; only the road to Parley differs: through the proxy.
    await context.route('**/session', async (route) => {
      const response = await route.fetch();
      const session = (await response.json()) as { graphqlUrl: string; expiresAt: string; token: string };
      expiresAt = session.expiresAt;
      firstToken = session.token;
      await route.fulfill({ response, json: { ...session, graphqlUrl: `http://${proxy.host}:${proxy.port}/graphql` } });
    });
    // The page's clock runs as usual, but the test can move it on (to the token's expiry).
    await context.clock.install();
  }
  const page = await context.newPage();
  const problems = pageProblems(page, viaProxy ? OFFLINE_NOISE : []);
  await page.goto(example.url);
  await page.fill('#name', name);
  await page.press('#name', 'Enter');
  await expect.poll(() => badge(page), { timeout: 15_000 }).toEqual({ shown: 'connected', connection: 'connected' });
  return { context, page, problems, expiresAt: () => expiresAt, firstToken: () => firstToken };
}

/** Types a message and presses Enter, then waits until the server has it. */
async function say(page: Page, body: string) {
  await page.fill('#body', body);
  await page.press('#body', 'Enter');
  await expect.poll(() => bodies(page), { timeout: 15_000 }).toContain(`${body} (sent)`);
}

describe('the example chat page', () => {
  it('two people chat both ways; Alice goes offline, Bob writes, Alice comes back to every message once, in order, and her own is sent once; tokens are refreshed', { timeout: 120_000 }, async () => {
    const alice = await join('Alice', { viaProxy: true });
    const bob = await join('Bob');
    expect(proxy.open()).toBeGreaterThan(0); // Alice's socket really goes through the proxy
    await screenshot(alice.page, 'chat-1-joined');

    await say(alice.page, 'Hi Bob');
    await expect.poll(() => bodies(bob.page), { timeout: 15_000 }).toEqual(['Hi Bob (sent)']);
    // Bob starts typing: Alice is told.
    await bob.page.fill('#body', 'Hi Ali'); // fill fires `input`, as typing does
    await expect.poll(() => alice.page.textContent('#typing'), { timeout: 15_000 }).toBe('Bob is typing…');
    await screenshot(alice.page, 'chat-2-typing');
    await say(bob.page, 'Hi Alice');
    await expect.poll(() => bodies(alice.page), { timeout: 15_000 }).toEqual(['Hi Bob (sent)', 'Hi Alice (sent)']);
    await expect.poll(() => alice.page.textContent('#typing'), { timeout: 15_000 }).toBe('');
    await screenshot(bob.page, 'chat-3-chatting');

    // Alice loses her network.
    await alice.context.setOffline(true);
    proxy.cut();
    await expect.poll(() => badge(alice.page), { timeout: 15_000 }).toEqual({ shown: 'offline', connection: 'reconnecting' });
    const missed = ['Bob 1', 'Bob 2', 'Bob 3', 'Bob 4', 'Bob 5'];
    for (const body of missed) await say(bob.page, body);
    // What she writes meanwhile waits on her screen, not sent.
    await alice.page.fill('#body', 'Back soon');
    await alice.page.press('#body', 'Enter');
    await expect.poll(async () => (await rows(alice.page)).at(-1), { timeout: 15_000 }).toMatchObject({ body: 'Back soon', status: expect.stringMatching(/^(pending|failed)$/) });
    expect(await bodies(alice.page)).toEqual(['Hi Bob (sent)', 'Hi Alice (sent)', expect.stringMatching(/^Back soon \((pending|failed)\)$/)]);
    await screenshot(alice.page, 'chat-4-alice-offline');
    await screenshot(bob.page, 'chat-5-bob-while-alice-offline');

    // She comes back: everything she missed, then her own message, each once and in seq order.
    proxy.restore();
    await alice.context.setOffline(false);
    await expect.poll(() => badge(alice.page), { timeout: 30_000 }).toEqual({ shown: 'connected', connection: 'connected' });
    const expected = ['Hi Bob', 'Hi Alice', ...missed, 'Back soon'].map((b) => `${b} (sent)`);
    await expect.poll(() => bodies(alice.page), { timeout: 30_000 }).toEqual(expected);
    await expect.poll(() => bodies(bob.page), { timeout: 15_000 }).toEqual(expected);
    await screenshot(alice.page, 'chat-6-alice-back');

    const seen = await rows(alice.page);
    expect(new Set(seen.map((r) => r.id)).size).toBe(seen.length);
    const seqs = seen.map((r) => Number(r.seq));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(await rows(bob.page)).toEqual(seen);

    // Her token is about to expire (the page's clock is moved on; Parley's is not): before its
    // next request the SDK asks the page's getToken, which asks the backend, for the next one,
    // and sends the message with that new token.
    const issued: string[] = [];
    alice.page.on('response', async (response) => {
      if (new URL(response.url()).pathname === '/token' && response.ok()) issued.push(((await response.json()) as { token: string }).token);
    });
    const sentWith: string[] = [];
    alice.page.on('request', (request) => {
      if (request.url().endsWith('/graphql') && request.postData()?.includes('"body":"Still here"')) sentWith.push(request.headers().authorization ?? '');
    });
    await alice.context.clock.setSystemTime(Date.parse(alice.expiresAt()) - 6_000);
    await say(alice.page, 'Still here');
    await expect.poll(() => issued.length).toBeGreaterThan(0);
    expect(issued).not.toContain(alice.firstToken());
    // Sent once, with a token the backend issued just now (the socket may have asked for one
    // of its own at the same moment, so not necessarily the last one issued).
    expect(sentWith).toHaveLength(1);
    expect(issued.map((token) => `Bearer ${token}`)).toContain(sentWith[0]);
    await expect.poll(() => bodies(bob.page), { timeout: 15_000 }).toEqual([...expected, 'Still here (sent)']);

    // And the server holds each message once: the offline one was not sent twice.
    const { messages } = await ok(server.graphqlUrl, ExampleRoomMessages, { host: example.room.hostUserId, id: example.room.conversationId }, { apiKey: example.room.apiKey });
    expect(messages.edges.map((e) => `${e.node.sender.displayName}: ${e.node.body}`)).toEqual([
      'Alice: Hi Bob',
      'Bob: Hi Alice',
      ...missed.map((b) => `Bob: ${b}`),
      'Alice: Back soon',
      'Alice: Still here',
    ]);
    expect(alice.problems).toEqual([]);
    expect(bob.problems).toEqual([]);
  });
});
