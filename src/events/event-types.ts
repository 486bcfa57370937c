import type { MembershipRow } from '../modules/conversation/conversation.store.ts';
import type { MessageRow } from '../modules/message/message.store.ts';

/** The `type` strings of persisted conversation events (CONTRACT.md "Subscriptions"). */
export const EventType = {
  messageCreated: 'conversation.message.created',
  messageUpdated: 'conversation.message.updated',
  messageDeleted: 'conversation.message.deleted',
  memberJoined: 'conversation.member.joined',
  memberLeft: 'conversation.member.left',
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

/** Payloads stored in the event log: self-contained, so replay needs no other table. */
export const eventPayload = {
  message: (m: MessageRow) => ({
    message: {
      ...m,
      createdAt: m.createdAt.toISOString(),
      editedAt: m.editedAt?.toISOString() ?? null,
      deletedAt: m.deletedAt?.toISOString() ?? null,
    },
  }),
  memberJoined: (m: MembershipRow) => ({ member: { ...m, joinedAt: m.joinedAt.toISOString() } }),
  memberLeft: (userId: string) => ({ userId }),
};
