/**
 * Members that each expire at a deadline, and a way to collect the expired ones exactly once:
 * typing indicators that end on their own. In memory for one process; in Redis
 * (redis-expiring-set.ts) when every node must see the same set and any node may reap it.
 */
export type ExpiringSet = {
  /** Adds the member, or moves its deadline. */
  put(member: string, deadline: number): Promise<void>;
  /** Removes the member; true if it was there. */
  delete(member: string): Promise<boolean>;
  /** Removes and returns up to `limit` members whose deadline has passed; each is returned once. */
  popExpired(now: number, limit: number): Promise<string[]>;
};

export function createMemoryExpiringSet(): ExpiringSet {
  const deadlines = new Map<string, number>();
  return {
    async put(member, deadline) {
      deadlines.set(member, deadline);
    },
    async delete(member) {
      return deadlines.delete(member);
    },
    async popExpired(now, limit) {
      const expired: string[] = [];
      for (const [member, deadline] of deadlines) {
        if (expired.length >= limit) break;
        if (deadline <= now) expired.push(member);
      }
      for (const member of expired) deadlines.delete(member);
      return expired;
    },
  };
}
