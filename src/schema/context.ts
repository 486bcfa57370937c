import type { Viewer } from '../auth/viewer.ts';
import type { ConversationEnvelope } from '../events/event-map.ts';
import type { DirectWrite } from '../realtime/live-stream.ts';
import type { Services } from '../services.ts';

/**
 * The WebSocket a subscription runs on (absent over HTTP), and the subscription's direct path
 * to it: writes an event's frame at once when it can (http/direct-writer.ts).
 */
export type Connection = { id: string; slowConsumer(): void; direct?: DirectWrite<ConversationEnvelope> };

/** Built once per HTTP request (or WebSocket subscription) by the Yoga context factory. */
export type Context = { viewer: Viewer; services: Services; requestId: string; connection?: Connection };

/** What a stream does with a subscriber that cannot keep up: cut its socket (it resumes by afterSeq). */
export const onSlowConsumer = (ctx: Context) => () => ctx.connection?.slowConsumer();

/** A conversation stream's subscriber: its slow-consumer cut-off and, over a socket, its direct path. */
export const subscriberOf = (ctx: Context) => ({ onSlowConsumer: onSlowConsumer(ctx), direct: ctx.connection?.direct });
