import { describe, expect, it } from 'vitest';
import { checkEndpointUrl, isForbiddenAddress } from '../../src/modules/webhook/target-policy.ts';
import { parseRetryAfter } from '../../src/modules/webhook/http-sender.ts';

const strict = { allowPrivate: false };
const loose = { allowPrivate: true };

describe('checkEndpointUrl: accepted endpoints', () => {
  it.each([
    ['https://example.com/hooks', 'https://example.com/hooks'],
    ['https://hooks.example.com:8443/parley?tenant=1', 'https://hooks.example.com:8443/parley?tenant=1'],
    ['HTTPS://Example.COM/Path', 'https://example.com/Path'],
    ['https://8.8.8.8/hook', 'https://8.8.8.8/hook'],
    ['https://[2606:4700:4700::1111]/hook', 'https://[2606:4700:4700::1111]/hook'],
    ['https://[::ffff:8.8.8.8]/', 'https://[::ffff:808:808]/'],
    ['https://134744072/', 'https://8.8.8.8/'], // decimal spelling of a public address
    ['https://localhost.example.com/', 'https://localhost.example.com/'], // not a *.localhost name
    ['https://172.32.0.1/', 'https://172.32.0.1/'], // just outside 172.16/12
    ['https://100.128.0.1/', 'https://100.128.0.1/'], // just outside 100.64/10
  ])('%s is allowed (as %s)', (url, href) => {
    const result = checkEndpointUrl(url, strict);
    expect(result).toMatchObject({ ok: true });
    if (result.ok) expect(result.url.href).toBe(href);
  });
});

describe('checkEndpointUrl: refused shapes (whatever allowPrivate says)', () => {
  it.each([
    ['', /empty/],
    ['not a url', /spaces/],
    ['/relative/path', /not a valid/],
    ['example.com/hook', /not a valid/],
    ['ftp://example.com/hook', /only http and https/],
    ['file:///etc/passwd', /only http and https/],
    ['javascript:alert(1)', /only http and https/],
    ['data:text/plain,hi', /only http and https/],
    ['ws://example.com/hook', /only http and https/],
    ['gopher://127.0.0.1:6379/_FLUSHALL', /only http and https/],
    ['https://user:pass@example.com/hook', /credentials/],
    ['https://user@example.com/hook', /credentials/],
    ['https://@example.com/hook', /credentials/],
    ['https://:secret@example.com/', /credentials/],
    ['https://example.com/hook#frag', /fragment/],
    ['https://example.com/hook#', /fragment/],
    [`https://example.com/${'a'.repeat(2048)}`, /longer than 2048/],
    ['https://exa\tmple.com/', /spaces or control/],
    ['https://example.com/\nhook', /spaces or control/],
    [' https://example.com/', /spaces or control/],
    ['https://example.com/\u0000', /spaces or control/],
    ['https:///', /not a valid|no host/],
    ['https://1.2.3.4.5/', /not a valid/],
  ])('%j is refused (%s)', (url, reason) => {
    for (const options of [strict, loose]) {
      const result = checkEndpointUrl(url, options);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.reason).toMatch(reason);
    }
  });

  it('2,048 characters is the longest URL accepted', () => {
    const base = 'https://example.com/';
    expect(checkEndpointUrl(base + 'a'.repeat(2048 - base.length), strict).ok).toBe(true);
    expect(checkEndpointUrl(base + 'a'.repeat(2049 - base.length), strict).ok).toBe(false);
  });
});

describe('checkEndpointUrl: local and private hosts are refused unless allowPrivate', () => {
  it.each([
    // plain http is for local development and tests only
    ['http://example.com/hook', /must use https/],
    // names
    ['https://localhost/', /local/],
    ['https://LOCALHOST:4000/', /local/],
    ['https://localhost./', /local/],
    ['https://api.localhost/', /local/],
    ['https://a.b.localhost../', /local/],
    // IPv4 loopback, in every spelling the URL parser normalises
    ['https://127.0.0.1/', /127\.0\.0\.1 is private/],
    ['https://127.1/', /127\.0\.0\.1/],
    ['https://2130706433/', /127\.0\.0\.1/],
    ['https://0x7f.1/', /127\.0\.0\.1/],
    ['https://0x7f000001/', /127\.0\.0\.1/],
    ['https://017700000001/', /127\.0\.0\.1/],
    ['https://0177.0.0.01/', /127\.0\.0\.1/],
    ['https://%31%32%37.0.0.1/', /127\.0\.0\.1/],
    ['https://127.255.255.254/', /127\.255/],
    // other IPv4 ranges
    ['https://0.0.0.0/', /0\.0\.0\.0/],
    ['https://0/', /0\.0\.0\.0/],
    ['https://10.1.2.3/', /10\.1\.2\.3/],
    ['https://172.16.0.1/', /172\.16/],
    ['https://172.31.255.255/', /172\.31/],
    ['https://192.168.1.1/', /192\.168/],
    ['https://169.254.169.254/latest/meta-data/', /169\.254\.169\.254/],
    ['https://100.64.0.1/', /100\.64/],
    ['https://100.127.255.255/', /100\.127/],
    ['https://192.0.0.8/', /192\.0\.0\.8/],
    ['https://192.0.2.10/', /192\.0\.2/],
    ['https://198.18.0.1/', /198\.18/],
    ['https://198.19.255.255/', /198\.19/],
    ['https://198.51.100.7/', /198\.51\.100/],
    ['https://203.0.113.7/', /203\.0\.113/],
    ['https://224.0.0.1/', /224\./],
    ['https://239.255.255.250/', /239\./],
    ['https://240.0.0.1/', /240\./],
    ['https://255.255.255.255/', /255\./],
    // IPv6
    ['https://[::1]/', /::1/],
    ['https://[::]/', /::/],
    ['https://[0:0:0:0:0:0:0:1]/', /::1/],
    ['https://[::ffff:127.0.0.1]/', /::ffff:7f00:1/], // IPv4-mapped
    ['https://[::ffff:7f00:1]/', /::ffff:7f00:1/],
    ['https://[::ffff:10.0.0.1]/', /::ffff:a00:1/],
    ['https://[::ffff:169.254.169.254]/', /::ffff:a9fe:a9fe/],
    ['https://[::127.0.0.1]/', /::7f00:1/], // deprecated IPv4-compatible
    ['https://[64:ff9b::7f00:1]/', /64:ff9b::7f00:1/], // NAT64 of 127.0.0.1
    ['https://[2002:7f00:1::]/', /2002:7f00:1::/], // 6to4 of 127.0.0.1
    ['https://[2002:c0a8:101::1]/', /2002:c0a8:101::1/], // 6to4 of 192.168.1.1
    ['https://[fe80::1]/', /fe80::1/],
    ['https://[febf::1]/', /febf::1/],
    ['https://[fc00::1]/', /fc00::1/],
    ['https://[fd12:3456:789a::1]/', /fd12/],
    ['https://[fec0::1]/', /fec0::1/],
    ['https://[ff02::1]/', /ff02::1/],
    ['https://[2001:db8::1]/', /2001:db8::1/],
    ['https://[2001:2::1]/', /2001:2::1/],
    ['https://[2001::1]/', /2001::1/], // Teredo
    ['https://[100::1]/', /100::1/],
    ['https://[3fff::1]/', /3fff::1/],
  ])('%s is refused (%s), allowed with allowPrivate', (url, reason) => {
    const result = checkEndpointUrl(url, strict);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
    expect(checkEndpointUrl(url, loose).ok).toBe(true);
  });

  it('allowPrivate allows plain http to loopback (the tests’ receivers)', () => {
    const result = checkEndpointUrl('http://127.0.0.1:4321/hook', loose);
    expect(result).toMatchObject({ ok: true });
    if (result.ok) expect(result.url.port).toBe('4321');
  });
});

describe('isForbiddenAddress (the address a connection is opened to)', () => {
  it.each([
    ['127.0.0.1', 4],
    ['127.8.9.10', 4],
    ['10.0.0.1', 4],
    ['172.16.5.4', 4],
    ['192.168.0.1', 4],
    ['169.254.169.254', 4],
    ['100.64.0.1', 4],
    ['0.0.0.0', 4],
    ['224.0.0.251', 4],
    ['255.255.255.255', 4],
    ['198.18.0.1', 4],
    ['192.0.2.1', 4],
    ['::1', 6],
    ['::', 6],
    ['::ffff:127.0.0.1', 6],
    ['::ffff:7f00:1', 6],
    ['0:0:0:0:0:ffff:a00:1', 6],
    ['fe80::1%eth0', 6],
    ['[fe80::1]', 6],
    ['fd00::1', 6],
    ['ff02::fb', 6],
    ['64:ff9b::a9fe:a9fe', 6],
    ['2002:a9fe:a9fe::1', 6],
    ['2001:db8::1', 6],
    ['127.0.0.1', 'IPv4'],
    ['::1', 'IPv6'],
  ] as const)('%s (family %s) is forbidden', (address, family) => {
    expect(isForbiddenAddress(address, family)).toBe(true);
  });

  it.each([
    ['8.8.8.8', 4],
    ['1.1.1.1', 'IPv4'],
    ['93.184.215.14', 4],
    ['172.15.255.255', 4],
    ['172.32.0.0', 4],
    ['100.63.255.255', 4],
    ['100.128.0.0', 4],
    ['169.253.255.255', 4],
    ['223.255.255.255', 4],
    ['2606:4700:4700::1111', 6],
    ['2a00:1450:4001:80b::200e', 'IPv6'],
    ['::ffff:8.8.8.8', 6],
    ['64:ff9b::808:808', 6], // NAT64 of a public address
    ['2002:808:808::1', 6], // 6to4 of a public address
  ] as const)('%s (family %s) is allowed', (address, family) => {
    expect(isForbiddenAddress(address, family)).toBe(false);
  });

  it.each([
    ['localhost', 4],
    ['', 4],
    ['example.com', 4],
    ['1.2.3', 4],
    ['8.8.8.8', 6], // a family that disagrees with the address
    ['2606:4700:4700::1111', 4],
    ['8.8.8.8', 'IPv6'],
  ] as const)('%j (family %s) is not a valid address of that family: forbidden (fail closed)', (address, family) => {
    expect(isForbiddenAddress(address, family)).toBe(true);
  });

  it('without a family, the address alone decides', () => {
    expect(isForbiddenAddress('8.8.8.8')).toBe(false);
    expect(isForbiddenAddress('::ffff:192.168.1.1')).toBe(true);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  it.each([
    ['120', 120],
    [' 7 ', 7],
    ['0', 0],
    ['86400', 86_400],
    ['999999999', 86_400], // clamped to a day
    ['Wed, 01 Jan 2025 00:01:30 GMT', 90],
    ['Wed, 01 Jan 2025 00:00:00 GMT', 0],
    ['Tue, 31 Dec 2024 23:00:00 GMT', 0], // in the past
    ['Fri, 10 Jan 2025 00:00:00 GMT', 86_400],
    ['', null],
    ['soon', null],
    ['-5', null],
    ['1.5', null],
    ['2025-01-01T00:01:00Z', null], // not an HTTP date
    [undefined, null],
  ])('%j → %s', (value, seconds) => {
    expect(parseRetryAfter(value, now)).toBe(seconds);
  });
});
