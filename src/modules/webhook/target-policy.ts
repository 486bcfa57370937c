import { BlockList, isIP } from 'node:net';

/**
 * Where Parley may send a webhook (SSRF defence). Two checks, because a URL that names a
 * public host may still resolve to a private address later (DNS rebinding):
 * - `checkEndpointUrl` when an endpoint is created or updated: the URL's shape, and its host
 *   when the host is a literal IP or a `localhost` name;
 * - `isForbiddenAddress` when a connection is opened: the address actually connected to.
 * Tests and local development allow private addresses (`allowPrivate`); production must not.
 */

export const MAX_ENDPOINT_URL_LENGTH = 2048;

export type EndpointUrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

// Not the public Internet: private, loopback, link-local, unique-local, multicast,
// unspecified, CGNAT, benchmarking, documentation and other special-purpose ranges
// (IANA special-purpose address registries).
const forbiddenV4 = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network"; 0.0.0.0 reaches the local host on Linux
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // CGNAT (shared address space)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata services live here)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation (TEST-NET-1)
  ['192.88.99.0', 24], // 6to4 relay anycast (deprecated)
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation (TEST-NET-2)
  ['203.0.113.0', 24], // documentation (TEST-NET-3)
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and 255.255.255.255 broadcast
] as const) {
  forbiddenV4.addSubnet(network, prefix, 'ipv4');
}

const forbiddenV6 = new BlockList();
for (const [network, prefix] of [
  ['::', 96], // unspecified (::), loopback (::1), deprecated IPv4-compatible (::a.b.c.d)
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard-only
  ['2001::', 23], // IETF protocol assignments: Teredo, benchmarking (2001:2::/48), ORCHID
  ['2001:db8::', 32], // documentation
  ['3fff::', 20], // documentation (RFC 9637)
  ['fc00::', 7], // unique-local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) {
  forbiddenV6.addSubnet(network, prefix, 'ipv6');
}

/** The 16 bytes of an IPv6 address (valid per `net.isIP`, without a zone), or null. */
function ipv6Bytes(address: string): number[] | null {
  let text = address;
  const tail: number[] = [];
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    tail.push(...dotted.slice(1).map(Number));
    text = `${text.slice(0, dotted.index)}0:0`; // placeholder groups, replaced below
  }
  const [head = '', rest] = text.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const all = rest === undefined ? left : [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  if (all.length !== 8 || all.some((g) => Number.isNaN(g))) return null;
  const bytes = all.flatMap((g) => [g >> 8, g & 0xff]);
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}

/**
 * The IPv4 address an IPv6 address carries and leads to: IPv4-mapped (::ffff:a.b.c.d),
 * NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::). Each reaches that IPv4 host, so it
 * must pass the IPv4 check too.
 */
function embeddedIPv4(address: string): string | null {
  const b = ipv6Bytes(address);
  if (!b) return null;
  const zeros = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const v4 = (at: number) => b.slice(at, at + 4).join('.');
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return v4(12);
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zeros(4, 12)) return v4(12);
  if (b[0] === 0x20 && b[1] === 0x02) return v4(2);
  return null;
}

/**
 * Whether Parley must not connect to `address` (as `dns.lookup` reports it). Anything that
 * is not a valid IP address, or whose family disagrees with `family`, is forbidden: fail closed.
 */
export function isForbiddenAddress(address: string, family?: number | string): boolean {
  const bare = address.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, ''); // brackets, zone id
  const kind = isIP(bare);
  if (family !== undefined && family !== kind && family !== `IPv${kind}`) return true;
  if (kind === 4) return forbiddenV4.check(bare, 'ipv4');
  if (kind === 6) {
    const v4 = embeddedIPv4(bare);
    if (v4 !== null && forbiddenV4.check(v4, 'ipv4')) return true;
    return forbiddenV6.check(bare, 'ipv6');
  }
  return true;
}

/** `localhost` and its subdomains (RFC 6761: they resolve to loopback), with or without a final dot. */
function isLocalhostName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.+$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

/**
 * Checks an endpoint URL when it is registered: http(s) only (https unless `allowPrivate`),
 * no credentials, no fragment, at most 2,048 characters, and no host that is a private
 * address or `localhost` unless `allowPrivate`. Host names are checked again, by the address
 * they resolve to, at each connection (`isForbiddenAddress`).
 */
export function checkEndpointUrl(url: string, { allowPrivate }: { allowPrivate: boolean }): EndpointUrlCheck {
  const refuse = (reason: string): EndpointUrlCheck => ({ ok: false, reason });
  if (typeof url !== 'string' || url.length === 0) return refuse('the URL is empty');
  if (url.length > MAX_ENDPOINT_URL_LENGTH) return refuse(`the URL is longer than ${MAX_ENDPOINT_URL_LENGTH} characters`);
  // The URL parser silently drops or trims these; the URL stored must be the URL called.
  if (/[\u0000-\u0020\u007f-\u009f]/.test(url)) return refuse('the URL contains spaces or control characters');

  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return refuse('not a valid absolute URL');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return refuse('only http and https URLs are allowed');
  if (parsed.protocol === 'http:' && !allowPrivate) return refuse('the URL must use https');
  // An empty userinfo (`https://@host/`) vanishes when parsed; refuse any '@' before the host.
  const authority = url.slice(url.indexOf('//') + 2).split(/[/?#\\]/, 1)[0] ?? '';
  if (parsed.username || parsed.password || authority.includes('@')) return refuse('the URL must not contain credentials');
  // An empty fragment (`…#`) leaves `hash` empty too.
  if (url.includes('#')) return refuse('the URL must not contain a fragment');

  // Literal IPs in any spelling (2130706433, 0x7f.1, ::ffff:127.0.0.1) are normalised by the parser.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) return refuse('the URL has no host');
  if (!allowPrivate) {
    if (isIP(host) && isForbiddenAddress(host)) return refuse(`the address ${host} is private, loopback or reserved`);
    if (isLocalhostName(host)) return refuse(`the host ${host} is local`);
  }
  return { ok: true, url: parsed };
}
