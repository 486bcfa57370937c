import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { execute, ok } from '../helpers/client.ts';
import { launchChromium, pageProblems, screenshot } from '../helpers/browser.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { connectWs, disposeAllWs, eventually } from '../helpers/ws.ts';

// The admin dashboard (/admin) end to end in real Chromium: the operator logs in, reads a
// tenant's usage, replays a dead letter, watches live connections and suspends a tenant,
// while the test checks each effect through the API. Each step is saved as a screenshot in
// .ci/out/screenshots/admin-*.png for a reviewer.

const Send = graphql(`mutation AdminSend($input: SendMessageInput!) { sendMessage(input: $input) { seq } }`);
const TenantName = graphql(`query AdminTenantName($id: ID!) { tenant(id: $id) { name } }`);
const CreateEndpoint = graphql(`
  mutation AdminCreateEndpoint($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } } }
`);
const DeadLetters = graphql(`
  query AdminDeadLetters($appId: ID!) { deadLetters(appId: $appId, first: 10) { edges { node { id status } } } }
`);
const Me = graphql(`query AdminMe($asUserId: ID) { me(asUserId: $asUserId) { id } }`);

// The network log line of a request refused on purpose (the wrong token at login).
const EXPECTED_CONSOLE = [/Failed to load resource: the server responded with a status of 401/];

let server: TestServer;
let browser: Browser;
let page: Page;
let problems: string[];

beforeAll(async () => {
  [server, browser] = await Promise.all([
    startServer({ WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', WEBHOOK_RETRY_SCHEDULE: '0.2,0.2', WEBHOOK_TIMEOUT_MS: '2000' }),
    launchChromium(),
  ]);
});
beforeEach(async () => {
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  problems = pageProblems(page, EXPECTED_CONSOLE);
});
afterEach(async () => {
  await disposeAllWs();
  await page.close();
  // No uncaught error, no failed module, no Content-Security-Policy violation in any step.
  expect(problems).toEqual([]);
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

const admin = () => ({ token: server.adminToken });
const text = async (locator: Locator) => (await locator.textContent())?.trim();
/** Polls what the page shows until it matches (the page refreshes on its own every few seconds). */
const poll = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: 15_000, interval: 100 });

async function logIn() {
  await page.goto(`${server.url}/admin`);
  await page.getByLabel('Operator token').fill(server.adminToken);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Tenants' }).waitFor();
}

/** A tenant with an app and two users in a group; `messages` sent by the first. */
async function tenantWithMessages(messages: number) {
  const app = await seedApp(server);
  const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
  const conversationId = await seedGroup(server, alice, [bob]);
  for (let i = 1; i <= messages; i++) await ok(server.graphqlUrl, Send, { input: { conversationId, body: `hello ${i}` } }, { token: alice.token });
  const { tenant } = await ok(server.graphqlUrl, TenantName, { id: app.tenantId }, admin());
  return { app, alice, bob, conversationId, name: tenant!.name };
}

async function openTenant(name: string) {
  await page.getByRole('link', { name, exact: true }).click();
  await page.getByRole('heading', { level: 1, name }).waitFor();
}

describe('login', () => {
  it('refuses a wrong token with an error and stays logged out; the operator token opens the dashboard, kept in sessionStorage only; log out', async () => {
    await page.goto(`${server.url}/admin`);
    await page.getByLabel('Operator token').fill('not-the-operator-token');
    await page.getByRole('button', { name: 'Log in' }).click();
    await poll(() => text(page.getByRole('alert'))).toMatch(/refused/);
    await screenshot(page, 'admin-1-login-refused');
    expect(await page.getByRole('heading', { name: 'Tenants' }).count()).toBe(0);
    expect(await page.evaluate(() => [sessionStorage.length, localStorage.length])).toEqual([0, 0]);

    await page.getByLabel('Operator token').fill(server.adminToken);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Tenants' }).waitFor();
    expect(await page.evaluate(() => [Object.values(sessionStorage), localStorage.length])).toEqual([[server.adminToken], 0]);
    // A reload keeps the session (same tab).
    await page.reload();
    await page.getByRole('heading', { name: 'Tenants' }).waitFor();
    // A malformed escape in the hash is an unknown route (the tenants list), not a blank page:
    // followed, and loaded as it is.
    await page.goto(`${server.url}/admin#/tenants/%E0`);
    await page.reload();
    await page.getByRole('heading', { name: 'Tenants' }).waitFor();
    await page.goto(`${server.url}/admin#/apps/%`);
    await page.getByRole('heading', { name: 'Tenants' }).waitFor();

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Operator token').waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  });
});

describe('tenants', () => {
  it('shows a tenant’s messages in the list and its usage, with four charts, after messages are sent through the API', async () => {
    const { name } = await tenantWithMessages(3);
    await logIn();
    const row = page.getByRole('row').filter({ has: page.getByRole('link', { name, exact: true }) });
    await poll(async () => (await row.getByRole('cell').allTextContents()).map((c) => c.trim())).toEqual([
      name,
      'PRO',
      'ACTIVE',
      '3',
      '0',
    ]);
    await screenshot(page, 'admin-2-tenants');

    await openTenant(name);
    await poll(() => text(page.getByLabel('Messages', { exact: true }))).toBe('3');
    for (const chart of ['Messages', 'Active users', 'Peak sockets', 'Webhook success rate']) {
      // uPlot drew it: a canvas inside the chart's box.
      await page.getByRole('img', { name: `${chart} chart` }).locator('canvas').waitFor();
    }
    await screenshot(page, 'admin-3-tenant-usage');

    await page.getByRole('button', { name: /Hourly/ }).click();
    await poll(() => page.getByRole('button', { name: /Hourly/ }).getAttribute('aria-pressed')).toBe('true');
    await poll(() => text(page.getByLabel('Messages', { exact: true }))).toBe('3');
    await page.getByRole('img', { name: 'Messages chart' }).locator('canvas').waitFor();
    await screenshot(page, 'admin-4-tenant-hourly');
  });
});

describe('dead letters', () => {
  it('lists an app’s dead letter with its endpoint, attempts and error; Replay sends it again and the row updates', async () => {
    const { app, alice, conversationId, name } = await tenantWithMessages(0);
    const receiver = await startReceiver(() => 503);
    try {
      const asApp = { apiKey: app.apiKey };
      await ok(server.graphqlUrl, CreateEndpoint, { input: { url: receiver.url, events: ['conversation.message.created'] } }, asApp);
      await ok(server.graphqlUrl, Send, { input: { conversationId, body: 'into the void' } }, { token: alice.token });
      const dead = await eventually(async () => {
        const [edge] = (await ok(server.graphqlUrl, DeadLetters, { appId: app.appId }, admin())).deadLetters.edges;
        expect(edge?.node.status).toBe('FAILED');
        return edge!.node;
      }, 30_000); // three attempts through the job queue: slow on a busy machine
      receiver.answerWith(() => 200);

      await logIn();
      await openTenant(name);
      await page.getByRole('link', { name: 'Dead letters of app' }).click();
      const row = page.getByRole('row', { name: `Dead letter ${dead.id}` });
      await row.waitFor();
      const cells = (await row.getByRole('cell').allTextContents()).map((c) => c.trim());
      expect(cells.slice(0, 4)).toEqual(['conversation.message.created #1', receiver.url, '3', expect.stringContaining('HTTP 503')]);
      expect(cells[5]).toBe('FAILED');
      await screenshot(page, 'admin-5-dead-letters');

      const received = receiver.received.length;
      await row.getByRole('button', { name: `Replay ${dead.id}` }).click();
      await poll(async () => (await row.getByRole('cell').allTextContents())[5]?.trim()).toBe('PENDING');
      expect(await row.getByRole('button').textContent()).toBe('Replayed');
      await eventually(() => expect(receiver.received.length).toBe(received + 1));
      expect(receiver.received.at(-1)!.headers['webhook-id']).toBe(dead.id);
      await screenshot(page, 'admin-6-dead-letter-replayed');

      // Delivered: no longer a dead letter.
      await eventually(async () => expect((await ok(server.graphqlUrl, DeadLetters, { appId: app.appId }, admin())).deadLetters.edges).toEqual([]));
      await page.getByRole('button', { name: 'Refresh' }).click();
      await page.getByText('No dead letters.').waitFor();
    } finally {
      await receiver.close();
    }
  }, 90_000);
});

describe('live connections', () => {
  it('counts a WebSocket that connects, in total and for its tenant, and drops it when it closes', async () => {
    const { alice, name } = await tenantWithMessages(0);
    await logIn();
    await page.getByRole('link', { name: 'Live connections' }).click();
    const total = page.getByLabel('Total sockets');
    await total.waitFor();
    const before = Number(await text(total));

    const ws = connectWs(server, { token: alice.token });
    await ws.connected;
    await poll(async () => Number(await text(total))).toBe(before + 1);
    const row = page.getByRole('row').filter({ has: page.getByRole('link', { name, exact: true }) });
    await poll(async () => (await row.getByRole('cell').allTextContents()).map((c) => c.trim())).toEqual([name, '1']);
    await screenshot(page, 'admin-7-live-connections');

    await ws.dispose();
    await poll(async () => Number(await text(total))).toBe(before);
  });
});

describe('suspend and resume', () => {
  it('Suspend (after a confirmation) makes the tenant’s API key refused over HTTP; Resume makes it work again', async () => {
    const { app, alice, name } = await tenantWithMessages(0);
    const asApp = { apiKey: app.apiKey };
    expect((await ok(server.graphqlUrl, Me, { asUserId: alice.id }, asApp)).me.id).toBe(alice.id);
    await logIn();
    await openTenant(name);
    const status = page.getByLabel('Tenant status');
    expect(await text(status)).toBe('ACTIVE');

    await page.getByRole('button', { name: 'Suspend tenant' }).click();
    const dialog = page.getByRole('dialog', { name: `Suspend ${name}?` });
    await dialog.waitFor();
    await screenshot(page, 'admin-8-suspend-confirm');
    // Cancel changes nothing.
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect(await text(status)).toBe('ACTIVE');
    expect((await execute(server.graphqlUrl, Me, { asUserId: alice.id }, asApp)).status).toBe(200);

    await page.getByRole('button', { name: 'Suspend tenant' }).click();
    await dialog.getByRole('button', { name: 'Suspend', exact: true }).click();
    await poll(() => text(status)).toBe('SUSPENDED');
    const refused = await execute(server.graphqlUrl, Me, { asUserId: alice.id }, asApp);
    expect([refused.status, refused.errors?.map((e) => e.extensions.code)]).toEqual([403, ['FORBIDDEN']]);
    await screenshot(page, 'admin-9-suspended');

    await page.getByRole('button', { name: 'Resume tenant' }).click();
    await page.getByRole('dialog', { name: `Resume ${name}?` }).getByRole('button', { name: 'Resume', exact: true }).click();
    await poll(() => text(status)).toBe('ACTIVE');
    expect((await ok(server.graphqlUrl, Me, { asUserId: alice.id }, asApp)).me.id).toBe(alice.id);
  });
});
