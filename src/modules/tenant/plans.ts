/** The plans' default limits; a tenant's `limits` column overrides any of them. */
export const LIMIT_NAMES = [
  'requestsPerMinute',
  'messagesPerSecondPerUser',
  'maxApps',
  'maxUsersPerApp',
  'maxMembersPerConversation',
  'maxSocketsPerUser',
] as const;

export type LimitName = (typeof LIMIT_NAMES)[number];
export type TenantLimits = Record<LimitName, number>;
export type Plan = 'FREE' | 'PRO' | 'ENTERPRISE';

export const PLAN_LIMITS: Record<Plan, TenantLimits> = {
  FREE: {
    requestsPerMinute: 600,
    messagesPerSecondPerUser: 5,
    maxApps: 2,
    maxUsersPerApp: 1_000,
    maxMembersPerConversation: 100,
    maxSocketsPerUser: 5,
  },
  PRO: {
    requestsPerMinute: 6_000,
    messagesPerSecondPerUser: 20,
    maxApps: 10,
    maxUsersPerApp: 100_000,
    maxMembersPerConversation: 1_000,
    maxSocketsPerUser: 10,
  },
  ENTERPRISE: {
    requestsPerMinute: 60_000,
    messagesPerSecondPerUser: 50,
    maxApps: 100,
    maxUsersPerApp: 10_000_000,
    maxMembersPerConversation: 10_000,
    maxSocketsPerUser: 20,
  },
};

export function effectiveLimits(plan: Plan, overrides: unknown): TenantLimits {
  const own = (overrides ?? {}) as Partial<TenantLimits>;
  const limits = { ...PLAN_LIMITS[plan] };
  for (const name of LIMIT_NAMES) if (typeof own[name] === 'number') limits[name] = own[name];
  return limits;
}

/** Applies an update: a number sets an override, null returns to the plan default, absent keeps. */
export function mergeOverrides(current: unknown, patch: Partial<Record<LimitName, number | null>>) {
  const next = { ...((current ?? {}) as Partial<TenantLimits>) };
  for (const name of LIMIT_NAMES) {
    const value = patch[name];
    if (value === null) delete next[name];
    else if (typeof value === 'number') next[name] = value;
  }
  return next;
}
