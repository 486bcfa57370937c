export { createParleyClient, type ParleyClient, type ParleyClientOptions } from './client.ts';
export { ParleyError, type ParleyErrorCode, type GraphQLErrorShape } from './errors.ts';
export type { Connection, ConnectionState } from './connection.ts';
export type { ParleyApi, Operation } from './api.ts';
export type { ParleyConversation, EventsOptions } from './conversation.ts';
export type { ConversationEvent } from './conversation-stream.ts';
export type { ConversationView, ServerMessage, ViewMessage, WatchOptions } from './conversation-view.ts';
export type { LocalMessage, Message, SendInput } from './outbox.ts';
export type { Presence } from './presence.ts';
export type { BackoffOptions } from './backoff.ts';
// The typed documents and the types generated from schema.graphql, for client.request().
export * from './generated/graphql.ts';
