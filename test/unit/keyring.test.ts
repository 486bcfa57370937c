import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { createKeyring, MAX_TOKEN_TTL_SECONDS } from '../../src/auth/keyring.ts';
import type { SigningKeyRow, SigningKeyStore } from '../../src/auth/signing-key.store.ts';
import { createTokenService } from '../../src/auth/tokens.ts';

// The keyring's lifecycle against a store that behaves like the real one (which the
// integration tests exercise on both databases), with a clock the test moves.

function memoryStore() {
  const rows: SigningKeyRow[] = [];
  const inForce = (row: SigningKeyRow, at: Date) => row.retiredAt === null || row.retiredAt > at;
  const store: SigningKeyStore = {
    active: async (at) => rows.filter((row) => inForce(row, at)).sort((a, b) => (a.kid < b.kid ? -1 : 1)),
    byKid: async (kid, at) => rows.find((row) => row.kid === kid && inForce(row, at)) ?? null,
    insert: async (row) => {
      rows.push({ ...row, createdAt: new Date(clock.now), retiredAt: null });
    },
    retireOlderThan: async (keep, retireAt) => {
      for (const row of rows) if (row.kid < keep && (row.retiredAt === null || row.retiredAt > retireAt)) row.retiredAt = retireAt;
    },
  };
  return { store: { ...store, byKid: vi.fn(store.byKid) }, rows };
}

const clock = { now: Date.UTC(2026, 10, 24, 12) };
const now = () => clock.now;
const secretKey = randomBytes(32).toString('hex');
const REFRESH_MS = 60_000;
const claims = { userId: 'usr_1', appId: 'app_1', tenantId: 'ten_1', sessionId: 'ses_1' };

async function node(store: SigningKeyStore) {
  const keyring = await createKeyring({ store, secretKey, refreshMs: REFRESH_MS, now });
  const tokens = createTokenService({ keyring, issuer: 'parley', audience: 'parley' });
  return { keyring, tokens };
}
const kidOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid as string;
// jose checks `exp` against the real clock: tokens in these tests outlive any clock the test sets.
const farFuture = () => new Date(Date.now() + 10 * 365 * 86_400_000);

describe('signing-key rotation', () => {
  it('a routine rotation: the new key signs, tokens of the old one verify until they have all expired', async () => {
    const { store } = memoryStore();
    const { keyring, tokens } = await node(store);
    const before = await tokens.signUserToken(claims, farFuture());
    const oldKid = kidOf(before);

    const newKid = await keyring.rotate({ retirePrevious: 'AFTER_TOKENS_EXPIRE' });
    const after = await tokens.signUserToken(claims, farFuture());
    expect(kidOf(after)).toBe(newKid);
    expect(newKid).not.toBe(oldKid);
    expect(await tokens.verifyUserToken(before)).toEqual(claims);
    expect((await keyring.jwks()).keys.map((k) => k.kid)).toEqual([oldKid, newKid]);

    // The old key retires once the longest-lived token it could still have signed has expired.
    const old = (await keyring.list()).find((k) => k.kid === oldKid)!;
    expect(old.retiresAt!.getTime()).toBe(clock.now + MAX_TOKEN_TTL_SECONDS * 1000 + REFRESH_MS);
    clock.now = old.retiresAt!.getTime() - 1;
    expect(await tokens.verifyUserToken(before)).toEqual(claims);
    clock.now += 1;
    expect(await tokens.verifyUserToken(before)).toBeNull();
    expect(await tokens.verifyUserToken(after)).toEqual(claims);
    expect((await keyring.jwks()).keys.map((k) => k.kid)).toEqual([newKid]);
  });

  it('retiring at once (a leaked key) refuses every token the old key signed', async () => {
    const { store } = memoryStore();
    const { keyring, tokens } = await node(store);
    const before = await tokens.signUserToken(claims, farFuture());
    const appToken = await tokens.signAppToken({ appId: 'app_1', tenantId: 'ten_1', apiKeyId: 'pk_1' }, farFuture());
    await keyring.rotate({ retirePrevious: 'NOW' });
    expect(await tokens.verifyUserToken(before)).toBeNull();
    expect(await tokens.verifyAppToken(appToken)).toBeNull();
    expect(await tokens.verifyUserToken(await tokens.signUserToken(claims, farFuture()))).toEqual(claims);
    expect((await keyring.list()).map((k) => k.signing)).toEqual([true]);
  });

  it('rotating again never extends an older key: its retirement date stays the earliest', async () => {
    const { store, rows } = memoryStore();
    const { keyring } = await node(store);
    await keyring.rotate({ retirePrevious: 'AFTER_TOKENS_EXPIRE' });
    const firstRetirement = rows[0]!.retiredAt!.getTime();
    clock.now += 3_600_000;
    await keyring.rotate({ retirePrevious: 'AFTER_TOKENS_EXPIRE' });
    expect(rows.map((r) => r.retiredAt?.getTime() ?? null)).toEqual([firstRetirement, clock.now + MAX_TOKEN_TTL_SECONDS * 1000 + REFRESH_MS, null]);
    await keyring.rotate({ retirePrevious: 'NOW' });
    expect(rows.slice(0, 3).map((r) => r.retiredAt?.getTime())).toEqual([clock.now, clock.now, clock.now]);
  });

  it("another node verifies the new key's tokens at once, and signs with it after a reload or its refresh interval", async () => {
    const { store } = memoryStore();
    const a = await node(store);
    const b = await node(store);
    const newKid = await a.keyring.rotate({ retirePrevious: 'AFTER_TOKENS_EXPIRE' });
    expect(await b.tokens.verifyUserToken(await a.tokens.signUserToken(claims, farFuture()))).toEqual(claims);
    // Until it looks again, b signs with the old key, which every node still accepts.
    const stale = await b.tokens.signUserToken(claims, farFuture());
    expect(kidOf(stale)).not.toBe(newKid);
    expect(await a.tokens.verifyUserToken(stale)).toEqual(claims);
    clock.now += REFRESH_MS;
    expect(kidOf(await b.tokens.signUserToken(claims, farFuture()))).toBe(newKid);

    const c = await node(store);
    await a.keyring.rotate({ retirePrevious: 'NOW' });
    const newest = kidOf(await a.tokens.signUserToken(claims, farFuture()));
    await c.keyring.reload(); // what the bus's signingKeys.changed does
    expect(kidOf(await c.tokens.signUserToken(claims, farFuture()))).toBe(newest);
    expect(await c.tokens.verifyUserToken(stale)).toBeNull();
  });

  it('a kid of a foreign shape costs no store lookup; an unknown one of our shape costs one', async () => {
    const { store } = memoryStore();
    const { tokens } = await node(store);
    const genuine = await tokens.signUserToken(claims, farFuture());
    const [, payload, signature] = genuine.split('.');
    const withKid = (kid: string) =>
      [Buffer.from(JSON.stringify({ alg: 'EdDSA', typ: 'JWT', kid })).toString('base64url'), payload, signature].join('.');
    store.byKid.mockClear();
    for (const kid of ['../../etc/passwd', "x' OR 1=1", 'a'.repeat(5000), '']) expect(await tokens.verifyUserToken(withKid(kid))).toBeNull();
    expect(store.byKid).not.toHaveBeenCalled();
    expect(await tokens.verifyUserToken(withKid('key_01KAAAAAAAAAAAAAAAAAAAAAAA'))).toBeNull();
    expect(store.byKid).toHaveBeenCalledTimes(1);
  });

  it('a reload asked for while a read of the store is under way reads again after it (a rotation heard mid-read is not lost)', async () => {
    const { store } = memoryStore();
    const a = await node(store);
    const b = await node(store);
    const leaked = await a.tokens.signUserToken(claims, farFuture());
    // b's next read of the store sees it as it is now, but answers only when released.
    const realActive = store.active;
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    vi.spyOn(store, 'active').mockImplementationOnce(async (at) => {
      const before = (await realActive(at)).map((row) => ({ ...row })); // as read then
      await gate;
      return before;
    });
    const staleRead = b.keyring.reload();
    await a.keyring.rotate({ retirePrevious: 'NOW' });
    const heard = b.keyring.reload(); // what the bus's signingKeys.changed does, mid-read
    release();
    await Promise.all([staleRead, heard]);
    expect(await b.tokens.verifyUserToken(leaked)).toBeNull();
  });

  it('concurrent rotations: the newest key signs, and every node agrees on it', async () => {
    const { store } = memoryStore();
    const { keyring } = await node(store);
    const [first, second] = await Promise.all([keyring.rotate({ retirePrevious: 'NOW' }), keyring.rotate({ retirePrevious: 'NOW' })]);
    const newest = first > second ? first : second;
    expect((await keyring.list()).map((k) => [k.kid, k.signing])).toEqual([[newest, true]]);
    const other = await node(store);
    expect(kidOf(await other.tokens.signUserToken(claims, farFuture()))).toBe(newest);
  });

  it('a store that cannot be read at refresh time keeps the last view instead of refusing every token', async () => {
    const { store } = memoryStore();
    const { tokens } = await node(store);
    const token = await tokens.signUserToken(claims, farFuture());
    const active = vi.spyOn(store, 'active').mockRejectedValue(new Error('connection refused'));
    clock.now += REFRESH_MS * 2;
    expect(await tokens.verifyUserToken(token)).toEqual(claims);
    expect(active).toHaveBeenCalled();
  });
});
