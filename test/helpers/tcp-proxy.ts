import { connect, createServer, type Socket } from 'node:net';

export type TcpProxy = {
  /** `host:port` the proxy listens on (127.0.0.1, a free port). */
  host: string;
  port: number;
  /** Destroys every connection through the proxy and refuses new ones (accepted, then closed at once) until `restore()`. */
  cut(): void;
  /** Lets connections through again. */
  restore(): void;
  /** Connections open through the proxy now. */
  open(): number;
  close(): Promise<void>;
};

/**
 * A TCP proxy in front of `target` (`host:port`): what a network partition between one
 * process and a server looks like, without touching either. Every accepted connection is
 * piped to a fresh connection to the target; `cut()` drops them all.
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let refusing = false;
  const pairs = new Set<[Socket, Socket]>();
  const drop = (pair: [Socket, Socket]) => {
    pairs.delete(pair);
    for (const s of pair) s.destroy();
  };

  const server = createServer((client) => {
    if (refusing) return void client.destroy();
    const upstream = connect(target.port, target.host);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    for (const s of pair) {
      s.setNoDelay(true);
      s.on('error', () => drop(pair));
      s.on('close', () => drop(pair));
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  return {
    host: '127.0.0.1',
    port,
    cut() {
      refusing = true;
      for (const pair of [...pairs]) drop(pair);
    },
    restore() {
      refusing = false;
    },
    open: () => pairs.size,
    close() {
      refusing = true;
      for (const pair of [...pairs]) drop(pair);
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
