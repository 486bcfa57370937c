import { randomBytes } from 'node:crypto';
import { monotonicFactory } from 'ulid';

const ulid = monotonicFactory();

/** Prefixed, sortable, opaque ids: the prefix tells a support engineer what a stray id is. */
export const newId = {
  tenant: () => `ten_${ulid()}`,
  app: () => `app_${ulid()}`,
  user: () => `usr_${ulid()}`,
  conversation: () => `cnv_${ulid()}`,
  session: () => `ses_${ulid()}`,
  webhookEndpoint: () => `whe_${ulid()}`,
  /** A delivery's id is its `webhook-id` header: the same on every attempt. */
  webhookDelivery: () => `msg_${ulid()}`,
  /** Messages are bare ULIDs (CONTRACT.md "Model"). */
  message: () => ulid(),
  apiKeyId: () => `pk_${randomBytes(12).toString('base64url')}`,
  apiKeySecret: () => `sk_${randomBytes(32).toString('base64url')}`,
};

/** What a well-formed id looks like; anything else is BAD_USER_INPUT before it reaches SQL. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
