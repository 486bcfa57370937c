import type { Viewer } from '../auth/viewer.ts';
import type { Services } from '../services.ts';

/** Built once per HTTP request (or WebSocket subscription) by the Yoga context factory. */
export type Context = { viewer: Viewer; services: Services; requestId: string };
