import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const scryptAsync = promisify(scrypt) as (pw: string, salt: Buffer, len: number, opts: object) => Promise<Buffer>;
const SCRYPT = { N: 16384, r: 8, p: 1 };

/** "scrypt$N$r$p$salt$hash": the parameters travel with the hash so they can be raised later. */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(secret, salt, 32, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const [scheme, N, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scryptAsync(secret, Buffer.from(salt, 'base64url'), expected.length, {
    N: Number(N),
    r: Number(r),
    p: Number(p),
  });
  return timingSafeEqual(actual, expected);
}

export const sha256 = (value: string) => createHash('sha256').update(value).digest();

export function constantTimeEqual(a: string, b: string): boolean {
  // Hashing first makes the comparison independent of the lengths as well as the contents.
  return timingSafeEqual(sha256(a), sha256(b));
}

/**
 * Remembers secrets that passed scrypt, as SHA-256 digests, so that a busy app server does
 * not pay scrypt's deliberate cost on every request. Revocation is not cached: the key row
 * is read on every request anyway.
 */
export class VerifiedSecretCache {
  private readonly entries = new Map<string, Buffer>();
  constructor(private readonly maxEntries = 10_000) {}

  matches(keyId: string, secret: string): boolean {
    const digest = this.entries.get(keyId);
    return digest !== undefined && timingSafeEqual(digest, sha256(secret));
  }

  remember(keyId: string, secret: string) {
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(keyId, sha256(secret));
  }
}

/** AES-256-GCM for key material at rest: "v1.<iv>.<tag>.<ciphertext>", base64url parts. */
export function encrypt(plaintext: string, secretKey: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sha256(`parley:at-rest:${secretKey}`), iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), body].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
}

export function decrypt(sealed: string, secretKey: string): string {
  const [version, iv, tag, body] = sealed.split('.');
  if (version !== 'v1' || !iv || !tag || !body) throw new Error('Unknown key material format');
  const decipher = createDecipheriv('aes-256-gcm', sha256(`parley:at-rest:${secretKey}`), Buffer.from(iv, 'base64url'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
}
