import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Received = { headers: IncomingHttpHeaders; body: string; at: number };
/** How the receiver answers request number `n` (1-based): a status, or a full answer. */
export type Answer = (n: number, request: Received, res: ServerResponse) => number | void;

/** A local HTTP server standing in for an app's webhook endpoint: it records every request. */
export async function startReceiver(answer: Answer = () => 200) {
  const received: Received[] = [];
  let respond = answer;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      received.push(request);
      const status = respond(received.length, request, res);
      if (typeof status === 'number') res.writeHead(status).end(status >= 200 && status < 300 ? 'ok' : `failed with ${status}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    /** Changes how the following requests are answered. */
    answerWith(next: Answer) {
      respond = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
