import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { decrypt } from '../../auth/secrets.ts';
import type { EndpointRow } from './webhook.store.ts';

/** "whsec_" and 32 random bytes in base64: the Standard Webhooks secret format (endpoints and moderation hooks). */
export const newWebhookSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

/**
 * Signs with every secret in force, space-separated (Standard Webhooks: a receiver that knows
 * either accepts), so a secret rotation never fails a delivery.
 */
export function signatureHeader(secrets: readonly string[], id: string, at: Date, body: string) {
  return secrets.map((secret) => new Webhook(secret).sign(id, at, body)).join(' ');
}

/** The headers of a signed request: a webhook attempt, or a moderation hook's question. */
export function signedHeaders(secrets: readonly string[], id: string, at: Date, body: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signatureHeader(secrets, id, at, body),
  };
}

/** The secrets that sign now: the current one, and the one before it during its overlap. */
export function secretsInForce(endpoint: Pick<EndpointRow, 'secret' | 'previousSecret' | 'previousSecretExpiresAt'>, secretKey: string, now: Date) {
  const secrets = [decrypt(endpoint.secret, secretKey)];
  if (endpoint.previousSecret && endpoint.previousSecretExpiresAt && endpoint.previousSecretExpiresAt > now) {
    secrets.push(decrypt(endpoint.previousSecret, secretKey));
  }
  return secrets;
}
