import WebSocket from 'ws';
import { graphql } from '../../test/generated/index.ts';
import { ok } from '../../test/helpers/client.ts';
import type { SeededApp } from '../../test/helpers/seed.ts';
import { createParleyClient, type ConversationEvent, type ParleyClient, type ParleyClientOptions } from '../src/index.ts';

// Helpers of the SDK's tests: real servers (test/helpers), the SDK as an app uses it.

const SdkToken = graphql(`
  mutation SdkToken($input: CreateUserTokenInput!) {
    createUserToken(input: $input) { token }
  }
`);
const SdkRevokeSessions = graphql(`
  mutation SdkRevokeSessions($userId: ID!) {
    revokeUserSessions(userId: $userId)
  }
`);

type Target = { graphqlUrl: string };

/** A new token for the user, as the app's server would fetch one for getToken. */
export const newToken = async (target: Target, app: SeededApp, userId: string, ttlSeconds = 3600) =>
  (await ok(target.graphqlUrl, SdkToken, { input: { userId, ttlSeconds } }, { apiKey: app.apiKey })).createUserToken.token;

export const revokeSessions = (target: Target, app: SeededApp, userId: string) =>
  ok(target.graphqlUrl, SdkRevokeSessions, { userId }, { apiKey: app.apiKey });

const open = new Set<ParleyClient>();

/** The SDK on Node (ws for WebSocket), reconnecting quickly; closed by closeClients(). */
export function sdk(url: string, options: Omit<ParleyClientOptions, 'url'>): ParleyClient {
  const client = createParleyClient({ url, webSocketImpl: WebSocket, reconnect: { minDelayMs: 50, maxDelayMs: 500 }, ...options });
  open.add(client);
  return client;
}

export async function closeClients() {
  await Promise.all([...open].map((c) => c.close()));
  open.clear();
}

/** Follows a conversation and records what the app is handed. */
export function follow(client: ParleyClient, conversationId: string, afterSeq?: number) {
  const events: ConversationEvent[] = [];
  const ends: unknown[] = [];
  const stop = client.conversation(conversationId).events((e) => events.push(e), {
    ...(afterSeq === undefined ? {} : { afterSeq }),
    onEnd: (error) => ends.push(error ?? 'complete'),
  });
  const persisted = () => events.filter((e) => e.seq !== null);
  return {
    events,
    ends,
    stop,
    seqs: () => persisted().map((e) => e.seq),
    bodies: () => persisted().flatMap((e) => (e.__typename === 'MessageCreated' ? [e.message.body] : [])),
  };
}

/** 1..n */
export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
