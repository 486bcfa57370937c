import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { monotonicFactory } from 'ulid';
import { decrypt, encrypt } from './secrets.ts';
import type { SigningKeyRow, SigningKeyStore } from './signing-key.store.ts';

export const ALG = 'EdDSA';
export type Key = CryptoKey | Uint8Array;

/** The longest a token Parley signs may live (user tokens: createUserToken's ttlSeconds cap). */
export const MAX_TOKEN_TTL_SECONDS = 24 * 60 * 60;

const KID = /^key_[0-9A-HJKMNP-TV-Z]{26}$/;
/** Kids sort by creation (the store orders by them): monotonic even within one millisecond. */
const ulid = monotonicFactory();

export type KeyringOptions = {
  store: SigningKeyStore;
  secretKey: string;
  /** How stale a node's view of the keys may get before it re-reads them (a rotation's reach without the bus). */
  refreshMs?: number;
  now?: () => number;
};

export type SigningKeyInfo = { kid: string; createdAt: Date; retiresAt: Date | null; signing: boolean };

/**
 * The token signing keys (Ed25519, identified by `kid`): which one signs, which still verify.
 * The private halves are stored encrypted, so every process signs with keys the others verify.
 *
 * Rotation adds a key, which signs from then on, and schedules the older ones to retire once
 * every token they signed has expired, so that nobody is logged out by a rotation. Retiring
 * at once (a leaked key) ends those tokens instead. Each node re-reads the keys at least every
 * `refreshMs`, and at once when told over the bus (signing-keys.graphql → deps).
 */
export async function createKeyring({ store, secretKey, refreshMs = 60_000, now = Date.now }: KeyringOptions) {
  /** Public keys of this node's view, with when each stops verifying. */
  let verifying = new Map<string, { key: Key; retiresAt: number | null }>();
  let signing: { kid: string; key: Key } | undefined;
  let loadedAt = 0;
  let loading: Promise<void> | undefined;
  let queued: Promise<void> | undefined;

  const retiresAt = (row: SigningKeyRow) => row.retiredAt?.getTime() ?? null;
  const importPublic = async (row: SigningKeyRow) => (await importJWK(row.publicJwk as JWK, ALG)) as Key;

  async function generate(): Promise<string> {
    const { publicKey, privateKey } = await generateKeyPair(ALG, { crv: 'Ed25519', extractable: true });
    const kid = `key_${ulid()}`;
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: ALG, use: 'sig' };
    const privateJwk = encrypt(JSON.stringify(await exportJWK(privateKey)), secretKey);
    await store.insert({ kid, alg: ALG, publicJwk, privateJwk });
    return kid;
  }

  async function load() {
    const at = new Date(now());
    let rows = await store.active(at);
    if (rows.length === 0) {
      await generate();
      rows = await store.active(at);
    }
    const next = new Map<string, { key: Key; retiresAt: number | null }>();
    for (const row of rows) next.set(row.kid, { key: verifying.get(row.kid)?.key ?? (await importPublic(row)), retiresAt: retiresAt(row) });
    // Two processes that start on an empty store may both create a key: both verify, and
    // each signs with the newest it saw. A key scheduled to retire never signs again.
    const newest = signerOf(rows);
    if (signing?.kid !== newest.kid) {
      let privateJwk: JWK;
      try {
        privateJwk = JSON.parse(decrypt(newest.privateJwk, secretKey)) as JWK;
      } catch {
        throw new Error('Cannot decrypt the token signing key: SECRET_KEY (or ADMIN_TOKEN) differs from when it was created');
      }
      signing = { kid: newest.kid, key: (await importJWK(privateJwk, ALG)) as Key };
    }
    verifying = next;
    loadedAt = now();
  }

  /**
   * Re-reads the keys. A call while a read is under way gets a read that starts after it (that
   * one may have read the store before the change the caller heard of); such calls share it.
   */
  function reload(): Promise<void> {
    if (loading) {
      queued ??= loading.catch(() => {}).then(() => {
        queued = undefined;
        return reload();
      });
      return queued;
    }
    loading = load().finally(() => (loading = undefined));
    return loading;
  }

  /** A stale view is re-read; if the store cannot be read now, the last view still serves. */
  async function fresh() {
    if (now() - loadedAt >= refreshMs) await reload().catch(() => {});
  }

  await reload();

  return {
    reload,

    async signingKey(): Promise<{ kid: string; key: Key }> {
      await fresh();
      return signing!;
    },

    /** The public key for a token's `kid` while it is in force; throws otherwise (jose's key resolver). */
    async publicKeyFor(kid: string | undefined): Promise<Key> {
      // Only a kid of our own shape is looked up: a forged one costs no query.
      if (!kid || !KID.test(kid)) throw new Error('unknown kid');
      await fresh();
      let entry = verifying.get(kid);
      if (!entry) {
        // A key another node created since this one last looked.
        const row = await store.byKid(kid, new Date(now()));
        if (!row) throw new Error('unknown kid');
        entry = { key: await importPublic(row), retiresAt: retiresAt(row) };
        verifying.set(kid, entry);
      }
      if (entry.retiresAt !== null && entry.retiresAt <= now()) throw new Error('retired kid');
      return entry.key;
    },

    /**
     * Adds a key that signs from now on; the others retire when the last token they signed
     * expires (MAX_TOKEN_TTL_SECONDS, plus `refreshMs` for nodes that sign with the old key until
     * they notice), or at once.
     */
    async rotate({ retirePrevious }: { retirePrevious: 'AFTER_TOKENS_EXPIRE' | 'NOW' }): Promise<string> {
      const kid = await generate();
      const retireAt = retirePrevious === 'NOW' ? now() : now() + MAX_TOKEN_TTL_SECONDS * 1000 + refreshMs;
      await store.retireOlderThan(kid, new Date(retireAt));
      await reload();
      return kid;
    },

    /** The keys in force, oldest first, as the operator sees them. */
    async list(): Promise<SigningKeyInfo[]> {
      const rows = await store.active(new Date(now()));
      const signer = signerOf(rows);
      return rows.map((row) => ({ kid: row.kid, createdAt: row.createdAt, retiresAt: row.retiredAt, signing: row === signer }));
    },

    /** The JSON Web Key Set served at /.well-known/jwks.json: every key still in force. */
    async jwks(): Promise<{ keys: JWK[] }> {
      return { keys: (await store.active(new Date(now()))).map((row) => row.publicJwk as JWK) };
    },
  };
}
/** The newest key not scheduled to retire (or, if every key is, the newest): rows oldest first. */
const signerOf = (rows: SigningKeyRow[]) => rows.filter((row) => row.retiredAt === null).at(-1) ?? rows.at(-1)!;

export type Keyring = Awaited<ReturnType<typeof createKeyring>>;
