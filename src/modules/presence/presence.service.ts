import type { AppScope } from '../../lib/scope.ts';
import type { ConversationStore } from '../conversation/conversation.store.ts';
import type { UserStore } from '../user/user.store.ts';
import type { Presence, PresenceTracker } from './presence.tracker.ts';

export type { Presence };

/**
 * Who may see whom: an end user sees users they share a conversation with (and themselves);
 * an app server sees every user of its app. Unknown or invisible ids are left out, so the
 * answer does not reveal whether they exist.
 */
export function createPresenceService(deps: { conversations: ConversationStore; users: UserStore; tracker: PresenceTracker }) {
  const { conversations, users, tracker } = deps;
  return {
    /** The subset of `userIds` the viewer may watch, in the order asked, without repeats. */
    async visibleToUser(scope: AppScope, viewerId: string, userIds: string[]) {
      const visible = await conversations.sharingAConversation(scope, viewerId, userIds);
      visible.add(viewerId);
      return [...new Set(userIds)].filter((id) => visible.has(id));
    },
    async visibleToApp(scope: AppScope, userIds: string[]) {
      const existing = new Set((await users.byIds(scope, userIds)).map((u) => u.id));
      return [...new Set(userIds)].filter((id) => existing.has(id));
    },
    now: (scope: AppScope, userIds: string[]): Promise<Presence[]> => tracker.get(scope, userIds),
  };
}
export type PresenceService = ReturnType<typeof createPresenceService>;
