import { z } from 'zod';
import { appScopeOf } from '../../schema/actor.ts';
import { builder } from '../../schema/builder.ts';
import { safeText } from '../../schema/validators.ts';
import type { ModerationHookRow } from './moderation.store.ts';

const HookRef = builder.objectRef<ModerationHookRow>('ModerationHook').implement({
  description: "The app's pre-send hook: asked before every message is stored (sent or edited).",
  fields: (t) => ({
    url: t.exposeString('url'),
    failOpen: t.exposeBoolean('failOpen', { description: 'When the hook does not answer usably in time: true lets the message through, false refuses it.' }),
    timeoutMs: t.exposeInt('timeoutMs'),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

const HookSecretPayload = builder.objectRef<{ hook: ModerationHookRow; secret: string }>('ModerationHookPayload').implement({
  fields: (t) => ({
    hook: t.field({ type: HookRef, resolve: (p) => p.hook }),
    secret: t.exposeString('secret', { description: 'Signs the hook requests (Standard Webhooks), "whsec_…": shown this once.' }),
  }),
});

const SetHookInput = builder.inputType('SetModerationHookInput', {
  fields: (t) => ({
    url: t.string({ required: true, validate: safeText.max(2048, 'At most 2048 characters') }),
    failOpen: t.boolean({ required: false, defaultValue: false }),
    timeoutMs: t.int({
      required: false,
      defaultValue: 2000,
      validate: z.number().int().min(100, 'At least 100 ms').max(10_000, 'At most 10 s: the sender is waiting').nullish(),
    }),
  }),
});

builder.queryFields((t) => ({
  moderationHook: t.field({
    type: HookRef,
    nullable: true,
    authScopes: { appServer: true },
    resolve: (_root, _args, ctx) => ctx.services.moderation.get(appScopeOf(ctx).appId),
  }),
}));

builder.mutationFields((t) => ({
  setModerationHook: t.field({
    type: HookSecretPayload,
    authScopes: { appServer: true },
    description: 'Sets or replaces the app’s moderation hook, with a new signing secret.',
    args: { input: t.arg({ type: SetHookInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      ctx.services.moderation.set(appScopeOf(ctx).appId, { url: input.url, failOpen: input.failOpen ?? false, timeoutMs: input.timeoutMs ?? 2000 }),
  }),
  removeModerationHook: t.boolean({
    authScopes: { appServer: true },
    description: 'Messages are no longer reviewed; false if there was no hook.',
    resolve: (_root, _args, ctx) => ctx.services.moderation.remove(appScopeOf(ctx).appId),
  }),
}));
