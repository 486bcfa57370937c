import type { SigningKeyInfo } from '../../auth/keyring.ts';
import { builder } from '../../schema/builder.ts';

const SigningKeyRef = builder.objectRef<SigningKeyInfo>('SigningKey').implement({
  description: 'A key that signs or verifies the tokens Parley issues; its public half is in /.well-known/jwks.json.',
  fields: (t) => ({
    kid: t.exposeString('kid', { description: 'The `kid` header of the tokens it signs.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    retiresAt: t.expose('retiresAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When it stops verifying tokens (null: not scheduled). Set by the next rotation.',
    }),
    signing: t.exposeBoolean('signing', { description: 'True for the one key that signs new tokens.' }),
  }),
});

const RetirementEnum = builder.enumType('SigningKeyRetirement', {
  values: {
    AFTER_TOKENS_EXPIRE: { description: 'Older keys verify until every token they signed has expired (a routine rotation: nobody is logged out).' },
    NOW: { description: 'Older keys stop verifying at once (a leaked key): every token they signed is refused.' },
  } as const,
});

const RotationRef = builder
  .objectRef<{ current: SigningKeyInfo; keys: SigningKeyInfo[] }>('SigningKeyRotation')
  .implement({
    fields: (t) => ({
      current: t.field({ type: SigningKeyRef, resolve: (r) => r.current, description: 'The new key, signing from now on.' }),
      keys: t.field({ type: [SigningKeyRef], resolve: (r) => r.keys, description: 'Every key in force after the rotation, oldest first.' }),
    }),
  });

const RotateSigningKeyInput = builder.inputType('RotateSigningKeyInput', {
  fields: (t) => ({
    retirePrevious: t.field({ type: RetirementEnum, required: false, defaultValue: 'AFTER_TOKENS_EXPIRE' }),
  }),
});

builder.queryFields((t) => ({
  signingKeys: t.field({
    type: [SigningKeyRef],
    authScopes: { operator: true },
    description: 'The token signing keys in force, oldest first (operator).',
    resolve: (_root, _args, { services }) => services.signingKeys.list(),
  }),
}));

builder.mutationFields((t) => ({
  rotateSigningKey: t.field({
    type: RotationRef,
    authScopes: { operator: true },
    description:
      'Adds a signing key that signs every token from now on (its `kid` in the JWKS at once); older keys retire as `retirePrevious` says (operator).',
    args: { input: t.arg({ type: RotateSigningKeyInput, required: false }) },
    resolve: (_root, { input }, { services }) => services.signingKeys.rotate(input?.retirePrevious ?? 'AFTER_TOKENS_EXPIRE'),
  }),
}));
