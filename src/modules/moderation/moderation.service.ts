import { ulid } from 'ulid';
import { z } from 'zod';
import { decrypt, encrypt } from '../../auth/secrets.ts';
import { AppError, badInput } from '../../lib/errors.ts';
import { createTtlCache } from '../../lib/ttl-cache.ts';
import type { Actor } from '../../lib/scope.ts';
import type { Attachment } from '../message/message.store.ts';
import type { WebhookSender } from '../webhook/http-sender.ts';
import { checkEndpointUrl } from '../webhook/target-policy.ts';
import { newWebhookSecret, signedHeaders } from '../webhook/webhook-signing.ts';
import { metadataSchema, safeText } from '../../schema/validators.ts';
import type { ModerationHookRow, ModerationStore } from './moderation.store.ts';

/** How long a node trusts the hook it read: a change reaches every node within this. */
const CACHE_MS = 5_000;

export type Draft = { body: string; attachments: Attachment[]; metadata: object };

/** What a hook may answer (anything else is a hook that did not answer usably). */
const Verdict = z.discriminatedUnion('action', [
  z.object({ action: z.literal('allow') }),
  z.object({ action: z.literal('reject'), reason: z.string().max(500).optional() }),
  z.object({
    action: z.literal('rewrite'),
    // What a client could not send, a hook cannot store either.
    body: safeText.optional(),
    metadata: metadataSchema.unwrap().unwrap().optional(),
  }),
]);

/**
 * The pre-send moderation hook: before a message is stored (sent or edited), the app's hook is
 * POSTed the draft, signed as webhooks are, and answers `allow`, `reject` (the sender gets the
 * reason as a BAD_USER_INPUT on input.body) or `rewrite` (the stored body / metadata are the
 * hook's). A hook that times out, fails or answers nonsense is the app's choice: fail open (the
 * draft goes through) or closed (FORBIDDEN, nothing stored).
 */
export function createModerationService(deps: {
  store: ModerationStore;
  sender: WebhookSender;
  secretKey: string;
  allowPrivateTargets: boolean;
  onError: (err: unknown) => void;
}) {
  const { store, sender, secretKey, allowPrivateTargets } = deps;
  const hooks = createTtlCache(CACHE_MS, (appId): Promise<ModerationHookRow | null> => store.byApp(appId));

  return {
    close: () => sender.close(),
    get: (appId: string) => store.byApp(appId),

    /** Sets (or replaces) the app's hook with a new signing secret, shown this once. */
    async set(appId: string, input: { url: string; failOpen: boolean; timeoutMs: number }) {
      const checked = checkEndpointUrl(input.url, { allowPrivate: allowPrivateTargets });
      if (!checked.ok) throw badInput([{ path: 'input.url', message: checked.reason }]);
      const secret = newWebhookSecret();
      const hook = await store.upsert(appId, { url: checked.url.toString(), secret: encrypt(secret, secretKey), failOpen: input.failOpen, timeoutMs: input.timeoutMs });
      hooks.delete(appId);
      return { hook, secret };
    },

    async remove(appId: string) {
      hooks.delete(appId);
      return store.remove(appId);
    },

    /** The draft as it may be stored, or an error; unchanged when the app has no hook. */
    async review(actor: Actor, draft: Draft & { conversationId: string; messageId?: string; kind: 'create' | 'edit' }): Promise<Draft> {
      const hook = await hooks.get(actor.scope.appId);
      if (!hook) return draft;
      const id = `mod_${ulid()}`;
      const at = new Date();
      const body = JSON.stringify({
        type: 'message.moderate',
        timestamp: at.toISOString(),
        data: {
          appId: actor.scope.appId,
          conversationId: draft.conversationId,
          senderId: actor.userId,
          kind: draft.kind,
          ...(draft.messageId ? { messageId: draft.messageId } : {}),
          body: draft.body,
          attachments: draft.attachments,
          metadata: draft.metadata,
        },
      });
      const result = await sender.send({
        url: hook.url,
        timeoutMs: hook.timeoutMs,
        headers: signedHeaders([decrypt(hook.secret, secretKey)], id, at, body),
        body,
      });
      let verdict: z.infer<typeof Verdict> | null = null;
      if (result.ok) {
        try {
          verdict = Verdict.parse(JSON.parse(result.responseSnippet));
        } catch {
          verdict = null;
        }
      }
      if (!verdict) {
        deps.onError(new Error(`moderation hook of ${actor.scope.appId} did not answer usably: ${result.error ?? `HTTP ${result.status}`}`));
        if (hook.failOpen) return draft;
        throw new AppError('FORBIDDEN', "The app's moderation hook did not answer: the message was not sent", { moderation: 'unavailable' });
      }
      if (verdict.action === 'allow') return draft;
      if (verdict.action === 'reject') {
        const reason = verdict.reason ?? 'Rejected by moderation';
        throw new AppError('BAD_USER_INPUT', reason, { issues: [{ path: 'input.body', message: reason }], moderation: 'rejected' });
      }
      return { ...draft, body: verdict.body ?? draft.body, metadata: verdict.metadata ?? draft.metadata };
    },
  };
}
export type ModerationService = ReturnType<typeof createModerationService>;
