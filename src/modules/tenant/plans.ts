/** The plans' default limits; a tenant's `limits` column overrides any of them. */
export const LIMIT_NAMES = [
  'requestsPerMinute',
  'messagesPerSecondPerUser',
  'maxApps',
  'maxUsersPerApp',
  'maxMembersPerConversation',
  'maxSocketsPerUser',
  'maxMessageBytes',
  'maxAttachmentsPerMessage',
  'wsMessagesPerSecond',
] as const;

export type LimitName = (typeof LIMIT_NAMES)[number];
export type TenantLimits = Record<LimitName, number>;
export type Plan = 'FREE' | 'PRO' | 'ENTERPRISE';

/**
 * Limits the deployment sets rather than the plan: a tenant's own limit may lower them, never
 * raise them (MAX_MESSAGE_BYTES: the contract's message size, default 16 KiB).
 */
export type DeploymentLimits = { maxMessageBytes: number };
const DEPLOYMENT_LIMITS = ['maxMessageBytes'] as const satisfies readonly (keyof DeploymentLimits)[];
type PlanLimitName = Exclude<LimitName, keyof DeploymentLimits>;

export const PLAN_LIMITS: Record<Plan, Record<PlanLimitName, number>> = {
  FREE: {
    requestsPerMinute: 600,
    messagesPerSecondPerUser: 5,
    maxApps: 2,
    maxUsersPerApp: 1_000,
    maxMembersPerConversation: 100,
    maxSocketsPerUser: 5,
    maxAttachmentsPerMessage: 10,
    /** Per socket, with a burst of twice as many (a client subscribing to many conversations at once). */
    wsMessagesPerSecond: 50,
  },
  PRO: {
    requestsPerMinute: 6_000,
    messagesPerSecondPerUser: 20,
    maxApps: 10,
    maxUsersPerApp: 100_000,
    maxMembersPerConversation: 1_000,
    maxSocketsPerUser: 10,
    maxAttachmentsPerMessage: 10,
    wsMessagesPerSecond: 100,
  },
  ENTERPRISE: {
    requestsPerMinute: 60_000,
    messagesPerSecondPerUser: 50,
    maxApps: 100,
    maxUsersPerApp: 10_000_000,
    maxMembersPerConversation: 10_000,
    maxSocketsPerUser: 20,
    maxAttachmentsPerMessage: 20,
    wsMessagesPerSecond: 200,
  },
};

export function effectiveLimits(plan: Plan, overrides: unknown, deployment: DeploymentLimits): TenantLimits {
  const own = (overrides ?? {}) as Partial<TenantLimits>;
  const limits: TenantLimits = { ...PLAN_LIMITS[plan], ...deployment };
  for (const name of LIMIT_NAMES) if (typeof own[name] === 'number') limits[name] = own[name];
  for (const name of DEPLOYMENT_LIMITS) limits[name] = Math.min(limits[name], deployment[name]);
  return limits;
}

/** One limit the plan sets (overridable per tenant), for checks that need no deployment setting. */
export function planLimit(plan: Plan, overrides: unknown, name: PlanLimitName): number {
  const own = (overrides ?? {}) as Partial<TenantLimits>;
  return typeof own[name] === 'number' ? own[name] : PLAN_LIMITS[plan][name];
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
