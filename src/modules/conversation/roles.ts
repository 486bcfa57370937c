import type { Role } from './conversation.store.ts';

/**
 * Conversation roles (CONTRACT.md "Roles"): OWNER and ADMIN manage members and roles,
 * MEMBER reads and writes, READER reads only. An ADMIN manages MEMBERs and READERs and may
 * grant up to ADMIN; only an OWNER touches OWNERs and ADMINs or grants OWNER.
 */
const rank: Record<Role, number> = { OWNER: 3, ADMIN: 2, MEMBER: 1, READER: 0 };

export const canWrite = (role: Role) => role !== 'READER';
export const canManageMembers = (role: Role) => rank[role] >= rank.ADMIN;
export const canDeleteOthersMessages = canManageMembers;

/** May `actor` change a member who has `target` (if any) into `next` (if any)? */
export function mayManage(actor: Role, { target, next }: { target?: Role; next?: Role }): boolean {
  if (!canManageMembers(actor)) return false;
  if (target !== undefined && actor !== 'OWNER' && rank[target] >= rank[actor]) return false;
  if (next !== undefined && rank[next] > rank[actor]) return false;
  return true;
}
