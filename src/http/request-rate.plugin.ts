import type { FastifyReply } from 'fastify';
import type { Plugin } from 'graphql-yoga';
import type { Viewer } from '../auth/viewer.ts';
import { rateLimited } from '../lib/errors.ts';
import type { RateLimiter } from '../lib/rate-limiter.ts';
import type { TenantService } from '../modules/tenant/tenant.service.ts';

/** The policy's name in the RateLimit-Policy and RateLimit headers. */
const POLICY = 'tenant';

/**
 * The tenant's `requestsPerMinute` (the limiter's window is a minute), counted over every query
 * and mutation its apps and users run (across nodes with Redis): over HTTP, and over a socket
 * too, so that the socket is no way around the budget. Every counted HTTP response carries the
 * IETF `RateLimit-Policy` and `RateLimit` headers (draft-ietf-httpapi-ratelimit-headers-10); an
 * operation over the budget is not executed: `RATE_LIMITED` (HTTP 429, `Retry-After`). The
 * operator is not limited; starting a subscription is bounded by the socket's own limits.
 */
export function useRequestRate(deps: { limiter: RateLimiter; tenants: Pick<TenantService, 'limits'> }): Plugin {
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const ctx = args.contextValue as { viewer?: Viewer; reply?: FastifyReply };
      if (!ctx.viewer || (ctx.viewer.kind !== 'app' && ctx.viewer.kind !== 'user')) return;
      const { tenantId } = ctx.viewer.scope;
      const { requestsPerMinute } = await deps.tenants.limits(tenantId);
      const rate = await deps.limiter.take(tenantId, requestsPerMinute);
      ctx.reply?.header('RateLimit-Policy', `"${POLICY}";q=${rate.limit};w=${deps.limiter.windowSeconds}`);
      ctx.reply?.header('RateLimit', `"${POLICY}";r=${rate.remaining};t=${rate.resetSeconds}`);
      if (!rate.allowed) {
        setResultAndStopExecution({ errors: [rateLimited(`At most ${rate.limit} requests per minute for this tenant`, rate.resetSeconds)] });
      }
    },
  };
}
