/**
 * What every target and client of `npm run bench` agrees on: the subscription document, the
 * message body (it carries its send time), the pre-serialized frame of the raw `ws` baseline
 * (shaped like Parley's MessageCreated frame, field for field), and the IPC messages between
 * the orchestrator and its worker processes.
 */
import type { Histogram } from './histogram.ts';

/** Milliseconds since the epoch with sub-millisecond precision; comparable across processes of one machine. */
export const clock = () => performance.timeOrigin + performance.now();

/** The selection every target serves: Parley's, the Yoga baseline's, and the raw frame's shape. */
export const EVENTS_DOCUMENT = `subscription BenchEvents($conversationId: ID!, $afterSeq: Int) {
  conversationEvents(conversationId: $conversationId, afterSeq: $afterSeq) {
    __typename type conversationId seq at
    ... on MessageCreated { message { id seq body sender { id displayName } createdAt } }
  }
}`;

/** Every client uses this subscription id, so frames are the same size on every target. */
export const SUBSCRIPTION_ID = '1';

/**
 * A body is "<intended send time, ms> <step> " padded with x to `bytes`: the receiver reads
 * the latency and the step it belongs to from it; the padding keeps the payload size equal
 * across targets.
 */
export function messageBody(sentAt: number, step: number, bytes: number): string {
  const head = `${sentAt.toFixed(3)} ${step} `;
  return head.length >= bytes ? head : head + 'x'.repeat(bytes - head.length);
}

export function parseBody(body: string): { sentAt: number; step: number } | null {
  const space = body.indexOf(' ');
  if (space <= 0) return null;
  const sentAt = Number(body.slice(0, space));
  const step = Number(body.slice(space + 1, body.indexOf(' ', space + 1)));
  return Number.isFinite(sentAt) && Number.isInteger(step) ? { sentAt, step } : null;
}

export type MessageCreated = {
  __typename: 'MessageCreated';
  type: 'conversation.message.created';
  conversationId: string;
  seq: number;
  at: string;
  message: { id: string; seq: number; body: string; sender: { id: string; displayName: string }; createdAt: string };
};

/** The graphql-transport-ws `next` frame a subscriber of EVENTS_DOCUMENT receives. */
export const nextFrame = (event: MessageCreated) =>
  JSON.stringify({ id: SUBSCRIPTION_ID, type: 'next', payload: { data: { conversationEvents: event } } });

// ---------------------------------------------------------------------------------------------
// IPC

/** One subscribed socket: which conversation (its index in the scenario), and the credential. */
export type SocketSpec = { conv: number; conversationId: string; token?: string };

export type Protocol = 'raw' | 'graphql-ws';

export type ToSubscriber =
  | { type: 'open'; protocol: Protocol; url: string; sockets: SocketSpec[]; concurrency: number; resume: boolean }
  | { type: 'await'; upTo: number[]; timeoutMs: number }
  | { type: 'stats'; step: number }
  | { type: 'final'; upTo: number[] }
  | { type: 'close' };

/** `frameBytes`: the size of the last timed frame received (every target should show the same). */
export type StepStats = { step: number; count: number; histogram: Histogram; closes: number; frameBytes: number };

export type FinalReport = {
  violations: number;
  samples: string[];
  missing: number;
  incompleteSockets: number;
  closes: Record<string, number>;
  reconnects: number;
  errors: string[];
};

export type FromSubscriber =
  | { type: 'opened'; ok: number; failed: number; errors: string[] }
  | { type: 'awaited'; complete: boolean; behind: number }
  | ({ type: 'stats' } & StepStats)
  | ({ type: 'final' } & FinalReport)
  | { type: 'closed' };

/** How the publisher reaches a target: Parley's sendMessage, the Yoga baseline's publish mutation, or raw-ws's POST /publish. */
export type PublishTarget = { kind: 'parley' | 'yoga' | 'raw'; url: string };

/** Per conversation, the credentials to send with (Parley: member tokens, round-robin). */
export type PublishConversation = { id: string; tokens: string[] };

export type ToPublisher =
  | { type: 'init'; target: PublishTarget; conversations: PublishConversation[]; bodyBytes: number; maxInFlight: number }
  | { type: 'open-loop'; step: number; rate: number; durationMs: number }
  | { type: 'closed-loop'; step: number; concurrency: number; durationMs: number };

export type PublishResult = {
  step: number;
  ok: number;
  errors: Record<string, number>;
  /** Successful publishes per conversation index. */
  perConversation: number[];
  /** Highest seq returned per conversation index (0: none). */
  lastSeq: number[];
  startedAt: number;
  /** When the last response came in. */
  endedAt: number;
  /** Sends that left later than scheduled by more than 10 ms (the publisher could not keep up). */
  late: number;
};

export type FromPublisher = { type: 'ready' } | ({ type: 'done' } & PublishResult);
