import type { Viewer } from '../auth/viewer.ts';
import type { Services } from '../services.ts';

/** The WebSocket a subscription runs on (absent over HTTP). */
export type Connection = { id: string; slowConsumer(): void };

/** Built once per HTTP request (or WebSocket subscription) by the Yoga context factory. */
export type Context = { viewer: Viewer; services: Services; requestId: string; connection?: Connection };

/** What a stream does with a subscriber that cannot keep up: cut its socket (it resumes by afterSeq). */
export const onSlowConsumer = (ctx: Context) => () => ctx.connection?.slowConsumer();
