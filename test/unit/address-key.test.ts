import { describe, expect, it } from 'vitest';
import { addressKey, looksLikeJwt } from '../../src/auth/credentials.ts';

describe('the failure budget key of a client address', () => {
  it.each([
    ['203.0.113.9', '203.0.113.9'],
    ['::ffff:203.0.113.9', '203.0.113.9'],
    ['2001:db8:85a3:1:aaaa:bbbb:cccc:dddd', '2001:db8:85a3:1::/64'],
    ['2001:db8:85a3:1::1', '2001:db8:85a3:1::/64'],
    ['2001:0db8:85a3:0001:ffff::2', '2001:db8:85a3:1::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
  ])('%s → %s (IPv6 by its /64: a subscriber cannot rotate out of its budget)', (address, key) => {
    expect(addressKey(address)).toBe(key);
  });
});

describe('which bearers are tried as ADMIN_TOKEN', () => {
  it('three base64url parts are a JWT; anything else is an attempt at ADMIN_TOKEN', () => {
    expect(looksLikeJwt('eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln')).toBe(true);
    for (const other of ['admin-token-1234567890', 'a.b', 'a.b.c.d', 'a..c', 'a.b.c=']) expect(looksLikeJwt(other)).toBe(false);
  });
});
