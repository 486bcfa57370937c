import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, LookupFunction, Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createWebhookSender, type WebhookSender } from '../../src/modules/webhook/http-sender.ts';

// One webhook attempt over real HTTP, against local receivers on 127.0.0.1 (no database: the
// file runs once per store project and does the same thing each time).

type Received = { method: string; url: string; headers: IncomingMessage['headers']; body: string; socket: Socket };

type Receiver = {
  port: number;
  url: string;
  requests: Received[];
  /** TCP connections accepted. */
  connections: () => number;
  close(): Promise<void>;
};

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startReceiver(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<Receiver> {
  const requests: Received[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString(), socket: req.socket });
      handle(req, res);
    });
  });
  server.on('connection', (socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const receiver: Receiver = {
    port,
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    connections: () => sockets.size,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  cleanups.push(receiver.close);
  return receiver;
}

function sender(options: Partial<Parameters<typeof createWebhookSender>[0]> = {}): WebhookSender {
  const created = createWebhookSender({ allowPrivate: true, ...options });
  cleanups.push(() => created.close());
  return created;
}

/** A resolver that answers every name with `addresses` (what a rebinding DNS server would do). */
function resolvesTo(...addresses: string[]): LookupFunction {
  return (_hostname, options, callback) => {
    const all = addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    if (options.all) callback(null, all);
    else callback(null, all[0]!.address, all[0]!.family);
  };
}

const event = JSON.stringify({ type: 'conversation.message.created', seq: 1 });
const jsonHeaders = { 'content-type': 'application/json', 'webhook-id': 'msg_1' };

describe('a delivered attempt', () => {
  it('POSTs the body with the caller’s headers; a 2xx is ok, with the response as the snippet', async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('thanks'));
    const result = await sender({ userAgent: 'Parley-Test/1' }).send({ url: receiver.url, headers: jsonHeaders, body: event });

    expect(result).toMatchObject({ ok: true, status: 200, error: null, responseSnippet: 'thanks', retryAfterSeconds: null });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(receiver.requests).toHaveLength(1);
    const [received] = receiver.requests;
    expect(received).toMatchObject({ method: 'POST', url: '/hook', body: event });
    expect(received!.headers).toMatchObject({ 'content-type': 'application/json', 'webhook-id': 'msg_1', 'user-agent': 'Parley-Test/1' });
  });

  it('a caller’s own User-Agent wins; a 204 with no body is ok', async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(204).end());
    const result = await sender().send({ url: receiver.url, headers: { 'User-Agent': 'Mine/2' }, body: new TextEncoder().encode('{}') });
    expect(result).toMatchObject({ ok: true, status: 204, error: null, responseSnippet: '' });
    expect(receiver.requests[0]!.headers['user-agent']).toBe('Mine/2');
    expect(receiver.requests[0]!.body).toBe('{}');
  });

  it('attempts share keep-alive connections', async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(200).end('ok'));
    const send = sender();
    for (let i = 0; i < 5; i++) expect((await send.send({ url: receiver.url, headers: jsonHeaders, body: event })).ok).toBe(true);
    expect(receiver.requests).toHaveLength(5);
    // undici's pool may open a second connection when the first is not yet idle again; not five.
    expect(receiver.connections()).toBeLessThan(5);
    expect(receiver.requests.every(({ socket }) => !socket.destroyed)).toBe(true);
  });

  it('a 4xx or 5xx is a failed attempt with its status, and no error text of ours', async () => {
    const receiver = await startReceiver((req, res) => res.writeHead(req.url === '/gone' ? 410 : 400).end('bad'));
    const send = sender();
    expect(await send.send({ url: receiver.url, headers: {}, body: event })).toMatchObject({ ok: false, status: 400, error: null, responseSnippet: 'bad' });
    expect(await send.send({ url: `http://127.0.0.1:${receiver.port}/gone`, headers: {}, body: event })).toMatchObject({ ok: false, status: 410 });
  });
});

describe('what a receiver sends back is capped', () => {
  it('a 500 with a 1 MiB body: the snippet is the first 4,096 bytes and the connection is dropped', async () => {
    const big = 'x'.repeat(4096) + 'y'.repeat(1024 * 1024 - 4096);
    const receiver = await startReceiver((_req, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end(big));
    const result = await sender().send({ url: receiver.url, headers: jsonHeaders, body: event });

    expect(result).toMatchObject({ ok: false, status: 500, error: null });
    expect(result.responseSnippet).toBe('x'.repeat(4096));
    // A body read to its end would leave the keep-alive connection open; we closed it.
    await vi.waitFor(() => expect(receiver.requests[0]!.socket.destroyed).toBe(true));
  });

  it('a receiver streaming without end does not hold the attempt: it ends ok once the cap is read', async () => {
    let stoppedEarly = false;
    let written = 0;
    const receiver = await startReceiver((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 'z');
      const pump = () => {
        while (!res.destroyed && written < 1024 ** 3) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
      };
      res.on('close', () => (stoppedEarly = !res.writableFinished));
      pump();
    });
    const result = await sender({ timeoutMs: 20_000 }).send({ url: receiver.url, headers: {}, body: event });

    expect(result).toMatchObject({ ok: true, status: 200, error: null, responseSnippet: 'z'.repeat(4096) });
    await vi.waitFor(() => expect(stoppedEarly).toBe(true));
    expect(written).toBeLessThan(1024 ** 3);
  });

  it('maxResponseBytes sets the cap; a character cut in half is replaced, not thrown on', async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(200).end('ééé')); // 6 bytes
    const result = await sender({ maxResponseBytes: 5 }).send({ url: receiver.url, headers: {}, body: event });
    expect(result).toMatchObject({ ok: true, responseSnippet: 'éé\uFFFD' });
  });
});

describe('time is capped', () => {
  it('a receiver that never answers ends the attempt with error "timeout"', async () => {
    const receiver = await startReceiver(() => {}); // reads the request, never responds
    const result = await sender({ timeoutMs: 300 }).send({ url: receiver.url, headers: jsonHeaders, body: event });
    expect(result).toMatchObject({ ok: false, status: null, error: 'timeout', responseSnippet: '' });
    expect(receiver.requests).toHaveLength(1);
  });

  it('a 200 whose body stalls is a timeout too (the deadline covers the body), keeping what arrived', async () => {
    const receiver = await startReceiver((_req, res) => {
      res.writeHead(200);
      res.write('partial'); // …and nothing more
    });
    const result = await sender({ timeoutMs: 300 }).send({ url: receiver.url, headers: {}, body: event });
    expect(result).toMatchObject({ ok: false, status: 200, error: 'timeout', responseSnippet: 'partial' });
  });
});

describe('redirects are not followed', () => {
  it.each([301, 302, 303, 307, 308])('a %i is a failed attempt and its target gets nothing', async (status) => {
    const target = await startReceiver((_req, res) => res.writeHead(200).end());
    const receiver = await startReceiver((_req, res) => res.writeHead(status, { location: target.url }).end('moved'));
    const result = await sender().send({ url: receiver.url, headers: jsonHeaders, body: event });

    expect(result).toMatchObject({ ok: false, status, error: `redirect not followed (${status})`, responseSnippet: 'moved' });
    expect(receiver.requests).toHaveLength(1);
    expect(target.connections()).toBe(0);
  });
});

describe('Retry-After', () => {
  it('in seconds', async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(429, { 'retry-after': '30' }).end());
    expect(await sender().send({ url: receiver.url, headers: {}, body: event })).toMatchObject({ ok: false, status: 429, retryAfterSeconds: 30 });
  });

  it('as an HTTP date', async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(503, { 'retry-after': new Date(Date.now() + 120_000).toUTCString() }).end());
    const result = await sender().send({ url: receiver.url, headers: {}, body: event });
    expect(result).toMatchObject({ ok: false, status: 503 });
    expect(result.retryAfterSeconds).toBeGreaterThanOrEqual(100);
    expect(result.retryAfterSeconds).toBeLessThanOrEqual(120);
  });

  it('clamped to a day; an invalid value is null', async () => {
    const receiver = await startReceiver((req, res) => res.writeHead(503, { 'retry-after': req.url === '/long' ? '9999999' : 'later' }).end());
    const send = sender();
    expect((await send.send({ url: `http://127.0.0.1:${receiver.port}/long`, headers: {}, body: event })).retryAfterSeconds).toBe(86_400);
    expect((await send.send({ url: receiver.url, headers: {}, body: event })).retryAfterSeconds).toBeNull();
  });
});

describe('failures without a response are results, never exceptions', () => {
  it('a closed port: "connection refused"', async () => {
    const gone = await startReceiver(() => {});
    await gone.close();
    const result = await sender().send({ url: gone.url, headers: {}, body: event });
    expect(result).toMatchObject({ ok: false, status: null, error: 'connection refused', retryAfterSeconds: null });
  });

  it('a name that does not resolve', async () => {
    const noSuchHost: LookupFunction = (hostname, _options, callback) =>
      callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '');
    const result = await sender({ lookup: noSuchHost }).send({ url: 'http://nowhere.test/hook', headers: {}, body: event });
    expect(result).toMatchObject({ ok: false, status: null, error: 'host not found (ENOTFOUND)' });
  });

  it('a URL the policy refuses, and a header that cannot be sent', async () => {
    const send = sender();
    expect(await send.send({ url: 'ftp://example.com/', headers: {}, body: event })).toMatchObject({
      ok: false,
      status: null,
      error: 'refused: only http and https URLs are allowed',
    });
    const receiver = await startReceiver((_req, res) => res.writeHead(200).end());
    const result = await send.send({ url: receiver.url, headers: { 'x-bad': 'a\r\nb' }, body: event });
    expect(result).toMatchObject({ ok: false, status: null });
    expect(result.error).toMatch(/^network error: /);
    expect(receiver.requests).toHaveLength(0);
  });
});

describe('private addresses are refused unless allowed (SSRF, DNS rebinding)', () => {
  it('a name resolving to 127.0.0.1 is refused at connect time: the receiver sees no connection', async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(200).end());
    const result = await sender({ allowPrivate: false, lookup: resolvesTo('127.0.0.1') }).send({
      url: `https://rebind.test:${receiver.port}/hook`,
      headers: jsonHeaders,
      body: event,
    });
    expect(result).toMatchObject({ ok: false, status: null, error: 'refused: private address 127.0.0.1' });
    expect(receiver.connections()).toBe(0);
  });

  it('every resolved address private (IPv4 and IPv6 loopback, metadata): refused, naming the first', async () => {
    const result = await sender({ allowPrivate: false, lookup: resolvesTo('169.254.169.254', '::1', '10.0.0.1') }).send({
      url: 'https://metadata.test/latest',
      headers: {},
      body: event,
    });
    expect(result).toMatchObject({ ok: false, status: null, error: 'refused: private address 169.254.169.254' });
  });

  it('a name that resolved to a public address earlier and to loopback now is refused now', async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(200).end());
    let answer = '93.184.215.14';
    const rebinding: LookupFunction = (hostname, options, callback) => resolvesTo(answer)(hostname, options, callback);
    const send = sender({ allowPrivate: false, lookup: rebinding });
    // The endpoint passed its creation-time check with a public address; then the name moves.
    answer = '127.0.0.1';
    const result = await send.send({ url: `https://rebind.test:${receiver.port}/hook`, headers: {}, body: event });
    expect(result.error).toBe('refused: private address 127.0.0.1');
    expect(receiver.connections()).toBe(0);
  });

  it('literal private addresses and localhost are refused before connecting', async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(200).end());
    const send = sender({ allowPrivate: false });
    for (const url of [
      `https://127.0.0.1:${receiver.port}/hook`,
      `https://2130706433:${receiver.port}/hook`,
      `https://[::ffff:127.0.0.1]:${receiver.port}/hook`,
      `https://localhost:${receiver.port}/hook`,
      `http://example.com:${receiver.port}/hook`,
    ]) {
      const result = await send.send({ url, headers: {}, body: event });
      expect(result, url).toMatchObject({ ok: false, status: null });
      expect(result.error, url).toMatch(/^refused: /);
    }
    expect(receiver.connections()).toBe(0);
  });

  it('with allowPrivate, the same name resolving to 127.0.0.1 is delivered (the resolver is the one used)', async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(200).end('ok'));
    const result = await sender({ allowPrivate: true, lookup: resolvesTo('127.0.0.1') }).send({
      url: `http://rebind.test:${receiver.port}/hook`,
      headers: {},
      body: event,
    });
    expect(result).toMatchObject({ ok: true, status: 200, error: null });
    expect(receiver.requests[0]!.headers.host).toBe(`rebind.test:${receiver.port}`);
  });
});
