import type { EventType } from './event-types.ts';

/** Ephemeral conversation events: delivered live, never stored, `seq` null. */
export const EphemeralType = { typing: 'conversation.typing', read: 'conversation.read' } as const;
export type EphemeralType = (typeof EphemeralType)[keyof typeof EphemeralType];

/**
 * What travels on the bus for a conversation: the event log's row (persisted events) or an
 * ephemeral event. Payloads are plain JSON so that a Redis bus can carry them unchanged.
 */
export type ConversationEnvelope = {
  appId: string;
  conversationId: string;
  seq: number | null;
  type: EventType | EphemeralType;
  at: string;
  payload: Record<string, unknown>;
  /** W3C trace context of the publish, when tracing is on: receivers (any node) continue the trace. */
  traceparent?: string;
};

export type PresenceEnvelope = { appId: string; userId: string; online: boolean; lastSeenAt: string | null };

/** Control messages about one user, for whichever node holds their sockets. */
export type UserEnvelope = { appId: string; userId: string; kind: 'sessions.revoked' };

/**
 * Control messages about a tenant, for every node holding sockets of its apps: the tenant was
 * suspended (close them all), or one of its API keys was revoked (close the sockets it opened).
 */
export type TenantEnvelope =
  | { tenantId: string; kind: 'tenant.suspended' }
  | { tenantId: string; kind: 'apiKey.revoked'; appId: string; apiKeyId: string };

/** Platform-wide control messages: the signing keys changed (every node re-reads them). */
export type PlatformEnvelope = { kind: 'signingKeys.changed' };

/** Every topic and its payload: the one place topic names are made. */
export const topics = {
  conversation: (appId: string, conversationId: string) => `conversation:${appId}:${conversationId}` as const,
  inbox: (appId: string, userId: string) => `inbox:${appId}:${userId}` as const,
  presence: (appId: string, userId: string) => `presence:${appId}:${userId}` as const,
  user: (appId: string, userId: string) => `user:${appId}:${userId}` as const,
  tenant: (tenantId: string) => `tenant:${tenantId}` as const,
  platform: () => 'platform' as const,
};

export type TopicPayload<T extends string> = T extends `conversation:${string}` | `inbox:${string}`
  ? ConversationEnvelope
  : T extends `presence:${string}`
    ? PresenceEnvelope
    : T extends `user:${string}`
      ? UserEnvelope
      : T extends `tenant:${string}`
        ? TenantEnvelope
        : T extends 'platform'
          ? PlatformEnvelope
          : never;
