import type { Transact, TxStores } from '../../db/stores.ts';
import { EventType, eventPayload } from '../../events/event-types.ts';
import { EphemeralType } from '../../events/event-map.ts';
import type { OutboxRelay } from '../../events/outbox-relay.ts';
import type { RateLimiter } from '../../lib/rate-limiter.ts';
import type { ModerationService } from '../moderation/moderation.service.ts';
import type { TenantLimits } from '../tenant/plans.ts';
import type { TenantService } from '../tenant/tenant.service.ts';
import type { EventPublisher } from '../../events/publisher.ts';
import { badInput, conflict, forbidden, notFound, payloadTooLarge } from '../../lib/errors.ts';
import { newId } from '../../lib/ids.ts';
import type { Actor, PageArgs } from '../../lib/scope.ts';
import type { ConversationService } from '../conversation/conversation.service.ts';
import type { ConversationStore, Role } from '../conversation/conversation.store.ts';
import { canDeleteOthersMessages, canWrite } from '../conversation/roles.ts';
import type { Attachment, MessageRow, MessageStore } from './message.store.ts';

export type SendMessageInput = {
  conversationId: string;
  body: string;
  attachments?: Attachment[] | null;
  metadata?: object | null;
  idempotencyKey?: string | null;
};

export function createMessageService(deps: {
  messages: MessageStore;
  conversations: ConversationStore;
  conversationService: ConversationService;
  transact: Transact;
  publisher: EventPublisher;
  relay: Pick<OutboxRelay, 'kick'>;
  tenants: Pick<TenantService, 'limits'>;
  /** The app's pre-send hook (allow, reject, rewrite), asked outside any transaction. */
  moderation: Pick<ModerationService, 'review'>;
  rateLimiter: RateLimiter;
  /** All senders of one conversation together: a hot conversation cannot monopolise its row lock. */
  conversationRate: { limiter: RateLimiter; perSecond: number };
  onError: (err: unknown, what: string) => void;
}) {
  const { messages, conversations, conversationService, transact, publisher, relay, tenants, moderation, rateLimiter, conversationRate, onError } = deps;

  /**
   * A body within the tenant's maxMessageBytes (never above MAX_MESSAGE_BYTES) and, for a new
   * message, attachments within its maxAttachmentsPerMessage. An edit keeps the attachments it
   * was sent with, even if the limit has been lowered since.
   */
  function checkContent(
    { maxMessageBytes, maxAttachmentsPerMessage }: TenantLimits,
    body: string,
    attachments: readonly Attachment[],
    { newAttachments }: { newAttachments: boolean },
  ) {
    if (Buffer.byteLength(body, 'utf8') > maxMessageBytes) {
      throw payloadTooLarge(`Message body is over ${maxMessageBytes} bytes`);
    }
    if (newAttachments && attachments.length > maxAttachmentsPerMessage) {
      throw badInput([{ path: 'input.attachments', message: `At most ${maxAttachmentsPerMessage} attachments` }]);
    }
    if (body.trim() === '' && attachments.length === 0) {
      throw badInput([{ path: 'body', message: 'A message needs a body or an attachment' }]);
    }
  }

  /**
   * Takes the next seq (which locks the conversation) and re-reads the actor's role under
   * that lock, so a member removed a moment ago cannot slip a write in. Errors roll back.
   */
  async function lockedWrite(tx: TxStores, actor: Actor, conversationId: string, allowed: (role: Role) => boolean) {
    const seq = await tx.conversations.nextSeq(actor.scope, conversationId);
    const membership = await tx.conversations.membership(actor.scope, conversationId, actor.userId);
    if (!membership) throw notFound('Conversation');
    if (!allowed(membership.role)) throw forbidden(`A ${membership.role} cannot do this`);
    return seq;
  }

  /** A message the actor can see: NOT_FOUND unless they are a member of its conversation. */
  async function visibleMessage(actor: Actor, id: string) {
    const message = await messages.byId(actor.scope, id);
    const membership = message && (await conversations.membership(actor.scope, message.conversationId, actor.userId));
    if (!message || !membership) throw notFound('Message');
    return { message, role: membership.role };
  }

  /**
   * Edit and delete: a new event with its own seq, and the message as it now is. The status
   * is read again under the conversation lock, since a delete may have committed meanwhile:
   * an edit is then a CONFLICT, and a second delete returns the message and writes nothing.
   */
  function changeMessage(actor: Actor, message: MessageRow, type: EventType, allowed: (role: Role) => boolean, change: object) {
    return transact(async (tx) => {
      await tx.conversations.lock(actor.scope, message.conversationId);
      const current = await tx.messages.byId(actor.scope, message.id);
      if (current?.status === 'DELETED') {
        if (type === EventType.messageDeleted) return current;
        throw conflict('A deleted message cannot be edited');
      }
      const seq = await lockedWrite(tx, actor, message.conversationId, allowed);
      const updated = await tx.messages.update(actor.scope, message.id, change);
      const event = await tx.conversations.recordEvent(actor.scope, message.conversationId, seq, type, eventPayload.message(updated));
      tx.afterCommit(() => relay.kick(event.conversationId));
      return updated;
    });
  }

  return {
    /**
     * One transaction: claim the idempotency key, take the next seq, store the message and
     * its event. A key already used returns the original message and writes nothing.
     */
    async send(actor: Actor, input: SendMessageInput): Promise<MessageRow> {
      const attachments = input.attachments ?? [];
      const { conversationId, idempotencyKey: key } = input;
      await conversationService.requireMembership(actor, conversationId); // the role is checked again under the lock
      // A retry of a send that was made returns it without counting against the rate, and
      // whatever limits have changed since.
      if (key) {
        const original = await messages.messageForIdempotencyKey(actor.scope, actor.userId, conversationId, key, { unexpired: true });
        if (original) return original;
      }
      const limits = await tenants.limits(actor.scope.tenantId);
      checkContent(limits, input.body, attachments, { newAttachments: true });
      await rateLimiter.consume(`${actor.scope.appId}:${actor.userId}`, limits.messagesPerSecondPerUser, 'messages');
      await conversationRate.limiter.consume(`${actor.scope.appId}:${conversationId}`, conversationRate.perSecond, 'messages in one conversation');
      // After the rates (a flood never reaches the hook), before the transaction (no lock is
      // held while the hook thinks); what it rewrites is held to the same limits.
      const draft = await moderation.review(actor, { kind: 'create', conversationId, body: input.body, attachments, metadata: input.metadata ?? {} });
      if (draft.body !== input.body) checkContent(limits, draft.body, attachments, { newAttachments: true });
      return transact(async (tx) => {
        if (key && !(await tx.messages.claimIdempotencyKey(actor.scope, actor.userId, conversationId, key))) {
          const original = await tx.messages.messageForIdempotencyKey(actor.scope, actor.userId, conversationId, key);
          if (original) return original;
          throw conflict('This idempotency key belongs to a request that did not complete; retry');
        }
        const seq = await lockedWrite(tx, actor, conversationId, canWrite);
        const message = await tx.messages.insert(actor.scope, {
          id: newId.message(),
          conversationId,
          seq,
          senderId: actor.userId,
          body: draft.body,
          attachments,
          metadata: draft.metadata,
        });
        const event = await tx.conversations.recordEvent(actor.scope, conversationId, seq, EventType.messageCreated, eventPayload.message(message));
        tx.afterCommit(() => relay.kick(event.conversationId));
        if (key) await tx.messages.recordIdempotentMessage(actor.scope, actor.userId, conversationId, key, message.id);
        return message;
      });
    },

    /** Only the sender edits, and only while the message is not deleted. */
    async edit(actor: Actor, id: string, body: string) {
      const { message } = await visibleMessage(actor, id);
      if (message.senderId !== actor.userId) throw forbidden('Only the sender can edit a message');
      if (message.status === 'DELETED') throw conflict('A deleted message cannot be edited');
      const limits = await tenants.limits(actor.scope.tenantId);
      checkContent(limits, body, message.attachments as Attachment[], { newAttachments: false });
      const draft = await moderation.review(actor, {
        kind: 'edit',
        conversationId: message.conversationId,
        messageId: message.id,
        body,
        attachments: message.attachments as Attachment[],
        metadata: message.metadata as object,
      });
      if (draft.body !== body) checkContent(limits, draft.body, message.attachments as Attachment[], { newAttachments: false });
      return changeMessage(actor, message, EventType.messageUpdated, canWrite, {
        body: draft.body,
        status: 'EDITED',
        editedAt: new Date(),
      });
    },

    /** Soft delete by the sender or an OWNER/ADMIN; deleting twice changes nothing. */
    async delete(actor: Actor, id: string) {
      const { message, role } = await visibleMessage(actor, id);
      const own = message.senderId === actor.userId;
      if (!own && !canDeleteOthersMessages(role)) throw forbidden('Only the sender or an OWNER/ADMIN can delete a message');
      if (message.status === 'DELETED') return message;
      return changeMessage(actor, message, EventType.messageDeleted, (r) => (own ? canWrite(r) : canDeleteOthersMessages(r)), {
        body: '',
        attachments: [],
        status: 'DELETED',
        deletedAt: new Date(),
      });
    },

    async page(actor: Actor, conversationId: string, args: PageArgs<number>) {
      await conversationService.access(actor, conversationId);
      return messages.page(actor.scope, conversationId, args);
    },

    /** Read implies delivered. A seq past the conversation's last one is refused. */
    async mark(actor: Actor, conversationId: string, seq: number, what: 'read' | 'delivered') {
      const { conversation } = await conversationService.access(actor, conversationId);
      if (seq > conversation.lastSeq) {
        throw badInput([{ path: 'seq', message: `seq is past the conversation's lastSeq (${conversation.lastSeq})` }]);
      }
      const member = await conversations.advanceMarkers(actor.scope, conversationId, actor.userId, {
        delivered: seq,
        ...(what === 'read' ? { read: seq } : {}),
      });
      if (!member) throw notFound('Conversation'); // removed since the access check
      if (what === 'read') {
        // The marker is stored: a receipt that fails to publish must not turn that into an error.
        await publisher
          .ephemeral(actor.scope, conversationId, EphemeralType.read, { userId: actor.userId, lastReadSeq: member.lastReadSeq })
          .catch((err: unknown) => onError(err, 'publishing a read receipt'));
      }
      return member;
    },
  };
}
export type MessageService = ReturnType<typeof createMessageService>;
