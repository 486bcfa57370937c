import type { Transact } from '../../db/stores.ts';
import { EventType, eventPayload } from '../../events/event-types.ts';
import type { OutboxRelay } from '../../events/outbox-relay.ts';
import type { EventRow } from '../../events/publisher.ts';
import { badInput, conflict, forbidden, notFound, overLimit } from '../../lib/errors.ts';
import { newId } from '../../lib/ids.ts';
import type { Actor, AppScope, PageArgs, TimeCursor } from '../../lib/scope.ts';
import type { TenantLimits } from '../tenant/plans.ts';
import type { UserStore } from '../user/user.store.ts';
import type { ConversationRow, ConversationStore, Role } from './conversation.store.ts';
import { mayManage } from './roles.ts';

/** A conversation as one user sees it: `viewerId` feeds per-viewer fields such as unreadCount. */
export type ConversationView = ConversationRow & { viewerId: string };

export type CreateConversationInput = {
  kind: 'DIRECT' | 'GROUP';
  memberIds: string[];
  title?: string | null;
  metadata?: object | null;
};

export function createConversationService(deps: {
  conversations: ConversationStore;
  users: UserStore;
  transact: Transact;
  relay: Pick<OutboxRelay, 'kick'>;
  /**
   * The tenant's effective limits (TenantService.limits: cached for a few seconds). Read before
   * a transaction opens, never inside one: on PGlite that would wait for its own transaction.
   */
  limits: (tenantId: string) => Promise<TenantLimits>;
}) {
  const { conversations, users, transact, relay, limits } = deps;
  const view = (c: ConversationRow, viewerId: string): ConversationView => ({ ...c, viewerId });

  /** The conversation and the actor's role; NOT_FOUND for non-members, so nothing leaks. */
  /** NOT_FOUND unless the actor is a member; one query (a membership implies its conversation). */
  async function requireMembership(actor: Actor, conversationId: string, store: ConversationStore = conversations) {
    const membership = await store.membership(actor.scope, conversationId, actor.userId);
    if (!membership) throw notFound('Conversation');
    return membership;
  }

  /** The conversation and the actor's role in it; NOT_FOUND for non-members. */
  async function access(actor: Actor, conversationId: string, store: ConversationStore = conversations) {
    const membership = await requireMembership(actor, conversationId, store);
    const conversation = await store.byId(actor.scope, conversationId);
    if (!conversation) throw notFound('Conversation');
    return { conversation, role: membership.role };
  }


  async function requireUsers(scope: AppScope, ids: string[]) {
    const found = await users.byIds(scope, ids);
    if (found.length !== new Set(ids).size) throw notFound('User');
  }

  /**
   * Runs a membership change under the conversation lock, after the actor's role is checked;
   * the events it records are published once it commits.
   */
  function manage<T>(
    actor: Actor,
    conversationId: string,
    fn: (ctx: { stores: ConversationStore; role: Role; conversation: ConversationRow; events: EventRow[] }) => Promise<T>,
  ) {
    return transact(async ({ conversations: tx, afterCommit }) => {
      await tx.lock(actor.scope, conversationId);
      const { conversation, role } = await access(actor, conversationId, tx);
      if (conversation.kind === 'DIRECT') throw forbidden('The members of a DIRECT conversation are fixed');
      const events: EventRow[] = [];
      afterCommit(() => (events.length > 0 ? relay.kick(conversationId) : undefined));
      return fn({ stores: tx, role, conversation, events });
    });
  }

  async function remove(actor: Actor, tx: ConversationStore, events: EventRow[], conversationId: string, userId: string, targetRole: Role) {
    if (targetRole === 'OWNER' && (await tx.countOwners(actor.scope, conversationId)) === 1) {
      const others = (await tx.membersOf(actor.scope, [conversationId])).length - 1;
      if (others > 0) throw conflict('The last OWNER cannot leave; make another member OWNER first');
    }
    await tx.removeMember(actor.scope, conversationId, userId);
    events.push(await tx.appendEvent(actor.scope, conversationId, EventType.memberLeft, eventPayload.memberLeft(userId)));
  }

  return {
    access,
    requireMembership,

    async get(actor: Actor, id: string) {
      return view((await access(actor, id)).conversation, actor.userId);
    },

    async page(actor: Actor, args: PageArgs<TimeCursor>) {
      return (await conversations.pageForUser(actor.scope, actor.userId, args)).map((c) => view(c, actor.userId));
    },

    /**
     * The caller is always a member and OWNER; a DIRECT pair has one conversation, ever. A new
     * conversation with more members than the tenant's maxMembersPerConversation is refused (no
     * lock needed: nobody can add to it before it commits); an existing DIRECT one is returned.
     */
    async create(actor: Actor, input: CreateConversationInput) {
      const others = [...new Set(input.memberIds)].filter((id) => id !== actor.userId);
      if (input.kind === 'DIRECT' && others.length !== 1) {
        throw badInput([{ path: 'input.memberIds', message: 'A DIRECT conversation takes exactly one other user' }]);
      }
      await requireUsers(actor.scope, others);
      const data = { id: newId.conversation(), kind: input.kind, title: input.title ?? null, metadata: input.metadata ?? {} };
      const members = [{ userId: actor.userId, role: 'OWNER' as Role }, ...others.map((userId) => ({ userId, role: 'MEMBER' as Role }))];
      const admit = async () => {
        const { maxMembersPerConversation: max } = await limits(actor.scope.tenantId);
        if (members.length > max) throw overLimit('maxMembersPerConversation', max);
      };
      if (input.kind === 'GROUP') {
        await admit();
        return view(await conversations.insert(actor.scope, { ...data, directKey: null }, members), actor.userId);
      }

      const directKey = [actor.userId, others[0]!].sort().join(':');
      const existing = await conversations.byDirectKey(actor.scope, directKey);
      if (existing) return view(existing, actor.userId);
      await admit();
      try {
        return view(await conversations.insert(actor.scope, { ...data, directKey }, members), actor.userId);
      } catch (err) {
        // Both users created it at the same moment: the unique key kept one; return that.
        const winner = await conversations.byDirectKey(actor.scope, directKey);
        if (winner) return view(winner, actor.userId);
        throw err;
      }
    },

    /**
     * Adds whoever is not a member yet (members already in are left as they are); all or none
     * of them, none when the conversation would have more than maxMembersPerConversation. The
     * members are counted under the conversation lock, so concurrent additions cannot overshoot.
     */
    async addMembers(actor: Actor, conversationId: string, userIds: string[], role: Role) {
      await requireUsers(actor.scope, userIds);
      const { maxMembersPerConversation: max } = await limits(actor.scope.tenantId);
      return manage(actor, conversationId, async ({ stores, role: actorRole, conversation, events }) => {
        if (!mayManage(actorRole, { next: role })) throw forbidden(`A ${actorRole} cannot add members as ${role}`);
        const present = new Set((await stores.membersOf(actor.scope, [conversationId])).map((m) => m.userId));
        const joining = [...new Set(userIds)].filter((userId) => !present.has(userId));
        if (joining.length > 0 && present.size + joining.length > max) throw overLimit('maxMembersPerConversation', max);
        for (const userId of joining) {
          const member = await stores.addMember(actor.scope, conversationId, userId, role);
          events.push(await stores.appendEvent(actor.scope, conversationId, EventType.memberJoined, eventPayload.memberJoined(member)));
        }
        return view((await stores.byId(actor.scope, conversation.id))!, actor.userId);
      });
    },

    async removeMember(actor: Actor, conversationId: string, userId: string) {
      return manage(actor, conversationId, async ({ stores, role, events }) => {
        const target = await stores.membership(actor.scope, conversationId, userId);
        if (!target) throw notFound('Member');
        if (userId !== actor.userId && !mayManage(role, { target: target.role })) {
          throw forbidden(`A ${role} cannot remove a ${target.role}`);
        }
        await remove(actor, stores, events, conversationId, userId, target.role);
        return view((await stores.byId(actor.scope, conversationId))!, actor.userId);
      });
    },

    async leave(actor: Actor, conversationId: string) {
      return manage(actor, conversationId, async ({ stores, role, events }) => {
        await remove(actor, stores, events, conversationId, actor.userId, role);
        return true;
      });
    },

    async updateMemberRole(actor: Actor, conversationId: string, userId: string, next: Role) {
      return manage(actor, conversationId, async ({ stores, role }) => {
        const target = await stores.membership(actor.scope, conversationId, userId);
        if (!target) throw notFound('Member');
        if (!mayManage(role, { target: userId === actor.userId ? undefined : target.role, next })) {
          throw forbidden(`A ${role} cannot make a ${target.role} ${next}`);
        }
        if (target.role === 'OWNER' && next !== 'OWNER' && (await stores.countOwners(actor.scope, conversationId)) === 1) {
          throw conflict('A conversation keeps at least one OWNER');
        }
        return stores.setRole(actor.scope, conversationId, userId, next);
      });
    },
  };
}
export type ConversationService = ReturnType<typeof createConversationService>;
