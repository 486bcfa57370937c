import type { Viewer } from '../auth/viewer.ts';
import { createTtlCache } from '../lib/ttl-cache.ts';
import type { AppStore } from '../modules/app/app.store.ts';

/**
 * The CORS answer for /graphql when a browser may read the response: the request's own
 * origin (with `Vary: Origin`), no credentials mode (Parley's credentials are headers, never
 * cookies). Preflights get it for any origin: they carry no credential and no data, and the
 * app (whose allowedOrigins decide) is only known from the actual request's credential.
 */
export const CORS_ALLOWED = {
  methods: ['POST', 'GET', 'OPTIONS'],
  allowedHeaders: ['authorization', 'content-type', 'x-api-key', 'x-request-id'],
  exposedHeaders: ['x-request-id', 'retry-after', 'ratelimit', 'ratelimit-policy'],
  credentials: false,
  maxAge: 600,
};

/** How long a node trusts an app's allowedOrigins it read. */
const CACHE_MS = 5_000;

/** `https://Chat.Example.com:443` → `https://chat.example.com`, as allowedOrigins are stored; "null" stays. */
export function normalizeOrigin(origin: string): string {
  try {
    const url = new URL(origin);
    return url.origin === 'null' ? origin : url.origin;
  } catch {
    return origin;
  }
}

/** A request from a page of Parley's own origin (GraphiQL): its Origin names the Host it was sent to. */
function sameOrigin(origin: string, host: string | undefined) {
  try {
    return host !== undefined && new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

/**
 * Per-app origin allowlists (`App.allowedOrigins`), for browser calls over HTTP (CORS) and
 * WebSocket (the upgrade's Origin header). Only app servers' and end users' credentials are
 * checked, against their own app; a request without Origin (a server, a native app) and the
 * operator are not. `*` allows every origin; an empty list allows none.
 */
export function createOriginPolicy({ apps }: { apps: Pick<AppStore, 'byId'> }) {
  const originsOf = createTtlCache(CACHE_MS, async (appId): Promise<readonly string[]> => (await apps.byId(appId))?.allowedOrigins ?? []);

  return {
    /** Whether `viewer` may call from `origin` (undefined: no Origin header); `host` is the request's Host. */
    async permits(viewer: Viewer, origin: string | undefined, host: string | undefined): Promise<boolean> {
      if (origin === undefined || (viewer.kind !== 'app' && viewer.kind !== 'user')) return true;
      if (sameOrigin(origin, host)) return true;
      const origins = await originsOf.get(viewer.scope.appId);
      return origins.includes('*') || origins.includes(normalizeOrigin(origin));
    },
  };
}
export type OriginPolicy = ReturnType<typeof createOriginPolicy>;
