import type { IncomingMessage } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';
import type { TrustProxy } from '../config.ts';

type Trust = (address: string, hop: number) => boolean;

/** TRUST_PROXY as the function Fastify's `trustProxy` and proxy-addr both take. */
export function trustFunction(trustProxy: TrustProxy): Trust {
  if (trustProxy === true) return () => true;
  if (trustProxy === false) return () => false;
  if (typeof trustProxy === 'number') return (_address, hop) => hop < trustProxy;
  return proxyAddr.compile(trustProxy);
}

/**
 * The client's address of a raw request (a WebSocket upgrade), by the same rule as Fastify's
 * `req.ip`, with the library Fastify itself uses for it: behind trusted proxies, the first
 * untrusted address of X-Forwarded-For; otherwise the socket's peer.
 */
export function clientAddressOf(trustProxy: TrustProxy): (req: IncomingMessage) => string {
  const trust = trustFunction(trustProxy);
  return (req) => proxyAddr(req, trust);
}
