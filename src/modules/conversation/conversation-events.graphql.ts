import { z } from 'zod';
import type { ConversationEnvelope } from '../../events/event-map.ts';
import { EphemeralType } from '../../events/event-map.ts';
import { EventType } from '../../events/event-types.ts';
import { actorOf, actorScopes, asUserIdArg } from '../../schema/actor.ts';
import { builder, type SchemaTypes } from '../../schema/builder.ts';
import { subscriberOf } from '../../schema/context.ts';
import { idSchema } from '../../schema/validators.ts';
import { MessageRef, type MessageView } from '../message/message.graphql.ts';
import type { UserRow } from '../user/user.store.ts';
import { MemberRef, type MemberView } from './conversation.graphql.ts';

type Json = Record<string, unknown>;
const date = (v: unknown) => (typeof v === 'string' ? new Date(v) : null);
const user = (u: unknown): UserRow | undefined => (u ? { ...(u as UserRow), createdAt: new Date((u as Json).createdAt as string) } : undefined);

/**
 * Event payloads are JSON (they came from the log or over the bus); they are turned back into
 * rows once per event object, and every subscriber on this node shares that object.
 */
const hydrated = new WeakMap<ConversationEnvelope, MessageView | MemberView>();
function hydrate<T extends MessageView | MemberView>(e: ConversationEnvelope, make: () => T): T {
  let value = hydrated.get(e) as T | undefined;
  if (!value) hydrated.set(e, (value = make()));
  return value;
}
const messageOf = (e: ConversationEnvelope) =>
  hydrate(e, (): MessageView => {
    const m = e.payload.message as Json;
    return { ...(m as unknown as MessageView), createdAt: date(m.createdAt)!, editedAt: date(m.editedAt), deletedAt: date(m.deletedAt), sender: user(m.sender) };
  });
const memberOf = (e: ConversationEnvelope) =>
  hydrate(e, (): MemberView => {
    const m = e.payload.member as Json;
    return { ...(m as unknown as MemberView), joinedAt: date(m.joinedAt)!, user: user(m.user) };
  });

export const ConversationEventRef = builder.interfaceRef<ConversationEnvelope>('ConversationEvent').implement({
  description: 'Something that happened in a conversation. Persisted events have a seq; typing and read receipts do not.',
  fields: (t) => ({
    type: t.exposeString('type', { description: 'conversation.message.created, conversation.typing, …' }),
    conversationId: t.exposeID('conversationId'),
    seq: t.exposeInt('seq', { nullable: true }),
    at: t.field({ type: 'DateTime', resolve: (e) => new Date(e.at) }),
  }),
  resolveType: (e) => typeNames[e.type],
});

const typeNames: Record<ConversationEnvelope['type'], string> = {
  [EventType.messageCreated]: 'MessageCreated',
  [EventType.messageUpdated]: 'MessageUpdated',
  [EventType.messageDeleted]: 'MessageDeleted',
  [EventType.memberJoined]: 'MemberJoined',
  [EventType.memberLeft]: 'MemberLeft',
  [EphemeralType.typing]: 'Typing',
  [EphemeralType.read]: 'ReadReceipt',
};

const eventType = (name: string) => builder.objectRef<ConversationEnvelope>(name);
const messageFields = (description: string) => ({
  description,
  interfaces: [ConversationEventRef],
  fields: (t: PothosSchemaTypes.ObjectFieldBuilder<SchemaTypes, ConversationEnvelope>) => ({
    message: t.field({ type: MessageRef, resolve: messageOf }),
  }),
});
eventType('MessageCreated').implement(messageFields('A message was sent.'));
eventType('MessageUpdated').implement(messageFields('A message was edited.'));
eventType('MessageDeleted').implement(messageFields('A message was deleted (its body is empty).'));
eventType('MemberJoined').implement({
  description: 'A member was added.',
  interfaces: [ConversationEventRef],
  fields: (t) => ({ member: t.field({ type: MemberRef, resolve: memberOf }) }),
});
eventType('MemberLeft').implement({
  description: 'A member left or was removed.',
  interfaces: [ConversationEventRef],
  fields: (t) => ({ userId: t.id({ resolve: (e) => String(e.payload.userId) }) }),
});
eventType('Typing').implement({
  description: 'A member started or stopped typing (ephemeral; "typing: true" lapses by itself).',
  interfaces: [ConversationEventRef],
  fields: (t) => ({
    userId: t.id({ resolve: (e) => String(e.payload.userId) }),
    typing: t.boolean({ resolve: (e) => Boolean(e.payload.typing) }),
  }),
});
eventType('ReadReceipt').implement({
  description: 'A member read up to lastReadSeq (ephemeral).',
  interfaces: [ConversationEventRef],
  fields: (t) => ({
    userId: t.id({ resolve: (e) => String(e.payload.userId) }),
    lastReadSeq: t.int({ resolve: (e) => Number(e.payload.lastReadSeq) }),
  }),
});

builder.subscriptionType({});
builder.subscriptionFields((t) => ({
  conversationEvents: t.field({
    type: ConversationEventRef,
    description:
      'Every persisted event with seq > afterSeq exactly once and in order (history first, then live, no gap at the seam), plus live typing and read receipts. Without afterSeq: live events only. Completes when the caller stops being a member.',
    authScopes: actorScopes,
    args: {
      conversationId: t.arg.id({ required: true, validate: idSchema }),
      afterSeq: t.arg.int({ validate: z.number().int().min(0, 'Must be 0 or more').nullish() }),
      ...asUserIdArg(),
    },
    subscribe: async (_root, args, ctx) =>
      ctx.services.realtime.conversationEvents(await actorOf(ctx, args.asUserId), args.conversationId, args.afterSeq ?? null, subscriberOf(ctx)),
    resolve: (event) => event,
  }),
  inboxEvents: t.field({
    type: ConversationEventRef,
    description: "Live events of every conversation the caller is in, including ones they are added to while subscribed.",
    authScopes: actorScopes,
    args: asUserIdArg(),
    subscribe: async (_root, args, ctx) => ctx.services.realtime.inboxEvents(await actorOf(ctx, args.asUserId), subscriberOf(ctx)),
    resolve: (event) => event,
  }),
}));
