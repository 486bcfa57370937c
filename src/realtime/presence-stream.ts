import type { Bus } from '../events/bus.ts';
import { topics, type PresenceEnvelope } from '../events/event-map.ts';
import type { AppScope } from '../lib/scope.ts';
import { liveStream, type StreamOptions } from './live-stream.ts';

/** Presence changes of the given (already authorised) users. */
export const presenceStream = (deps: { bus: Bus }, scope: AppScope, userIds: string[], options: StreamOptions<PresenceEnvelope>) =>
  liveStream<PresenceEnvelope>((push) => userIds.map((id) => deps.bus.subscribe(topics.presence(scope.appId, id), push)), options);
