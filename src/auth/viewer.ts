import type { AppScope } from '../lib/scope.ts';

/** Who is calling, resolved once per request (or per socket) from the credential. */
export type Viewer =
  | { kind: 'anonymous' }
  | { kind: 'operator' }
  | { kind: 'app'; scope: AppScope; apiKeyId: string }
  | { kind: 'user'; scope: AppScope; userId: string; sessionId: string };
