import type { AppScope } from '../../lib/scope.ts';
import type { ConversationStore } from '../conversation/conversation.store.ts';
import type { UserStore } from '../user/user.store.ts';

export type Presence = { userId: string; online: boolean; lastSeenAt: Date | null };

/**
 * Who may see whom: an end user sees users they share a conversation with (and themselves);
 * an app server sees every user of its app. Unknown or invisible ids are left out, so the
 * answer does not reveal whether they exist.
 *
 * Nobody is online until the realtime layer tracks sockets: every entry is offline.
 */
export function createPresenceService(deps: { conversations: ConversationStore; users: UserStore }) {
  const offline = (userId: string): Presence => ({ userId, online: false, lastSeenAt: null });
  return {
    async forUser(scope: AppScope, viewerId: string, userIds: string[]) {
      const visible = await deps.conversations.sharingAConversation(scope, viewerId, userIds);
      visible.add(viewerId);
      return [...new Set(userIds)].filter((id) => visible.has(id)).map(offline);
    },
    async forApp(scope: AppScope, userIds: string[]) {
      const existing = new Set((await deps.users.byIds(scope, userIds)).map((u) => u.id));
      return [...new Set(userIds)].filter((id) => existing.has(id)).map(offline);
    },
  };
}
export type PresenceService = ReturnType<typeof createPresenceService>;
