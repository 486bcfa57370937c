import { z } from 'zod';
import { actorOf, actorScopes, asUserIdArg } from '../../schema/actor.ts';
import { builder, type SchemaTypes } from '../../schema/builder.ts';
import { isInt, keysetConnection } from '../../schema/pagination.ts';
import { idSchema, metadataSchema, pageArgsSchema, safeText } from '../../schema/validators.ts';
import { MemberRef } from '../conversation/conversation.graphql.ts';
import { UserRef } from '../user/user.graphql.ts';
import type { UserRow } from '../user/user.store.ts';
import type { Attachment, MessageRow } from './message.store.ts';

const MessageStatusEnum = builder.enumType('MessageStatus', { values: ['SENT', 'EDITED', 'DELETED'] as const });

const AttachmentRef = builder.objectRef<Attachment>('Attachment').implement({
  fields: (t) => ({
    url: t.exposeString('url'),
    name: t.exposeString('name', { nullable: true }),
    mimeType: t.exposeString('mimeType', { nullable: true }),
    size: t.exposeInt('size', { nullable: true }),
  }),
});

/** A message, with its sender when the event that carried it had it loaded already. */
export type MessageView = MessageRow & { sender?: UserRow };

export const MessageRef = builder.objectRef<MessageView>('Message').implement({
  fields: (t) => ({
    id: t.exposeID('id', { description: 'A ULID.' }),
    conversationId: t.exposeID('conversationId'),
    seq: t.exposeInt('seq', { description: 'The seq of the event that created the message.' }),
    sender: t.field({ type: UserRef, resolve: (m) => m.sender ?? m.senderId }),
    body: t.exposeString('body', { description: 'Empty once the message is deleted.' }),
    attachments: t.field({ type: [AttachmentRef], resolve: (m) => m.attachments as Attachment[] }),
    metadata: t.expose('metadata', { type: 'JSONObject' }),
    status: t.expose('status', { type: MessageStatusEnum }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    editedAt: t.expose('editedAt', { type: 'DateTime', nullable: true }),
    deletedAt: t.expose('deletedAt', { type: 'DateTime', nullable: true }),
  }),
});

const AttachmentInput = builder.inputType('AttachmentInput', {
  fields: (t) => ({
    url: t.string({
      required: true,
      // Attachments are stored as jsonb: the URL parser would let a NUL or a lone surrogate through, encoded.
      validate: safeText.pipe(z.url({ protocol: /^https?$/, error: 'Must be an http(s) URL' }).max(2048)),
    }),
    name: t.string({ validate: safeText.max(255).nullish() }),
    mimeType: t.string({ validate: safeText.max(255).nullish() }),
    size: t.int({ validate: z.number().int().min(0).nullish() }),
  }),
});

const SendMessageInput = builder.inputType('SendMessageInput', {
  fields: (t) => ({
    conversationId: t.id({ required: true, validate: idSchema }),
    // Only the text check here: the service checks the size, as PAYLOAD_TOO_LARGE.
    body: t.string({ required: true, description: "Up to the tenant's maxMessageBytes bytes (UTF-8; MAX_MESSAGE_BYTES at most).", validate: safeText }),
    attachments: t.field({
      type: [AttachmentInput],
      description: "Up to the tenant's maxAttachmentsPerMessage (checked by the service), and never more than 100.",
      validate: z.array(z.unknown()).max(100, 'At most 100 attachments').nullish(),
    }),
    metadata: t.field({ type: 'JSONObject', validate: metadataSchema }),
    idempotencyKey: t.string({
      description: 'Sending again with the same key (same user and conversation, within 24 h) returns the original message.',
      validate: safeText.min(1).max(128).nullish(),
    }),
  }),
});

const seqSchema = z.number().int().min(0, 'Must be 0 or more');

/** markDelivered / markRead: the same field, moving a different marker (read implies delivered). */
function markField(t: PothosSchemaTypes.MutationFieldBuilder<SchemaTypes, object>, what: 'read' | 'delivered') {
  return t.field({
    type: MemberRef,
    authScopes: actorScopes,
    args: {
      conversationId: t.arg.id({ required: true, validate: idSchema }),
      seq: t.arg.int({ required: true, validate: seqSchema }),
      ...asUserIdArg(),
    },
    resolve: async (_root, args, ctx) =>
      ctx.services.messages.mark(await actorOf(ctx, args.asUserId), args.conversationId, args.seq, what),
  });
}

builder.queryFields((t) => ({
  messages: t.connection({
    type: MessageRef,
    description: 'A conversation’s messages ordered by seq (deleted ones included, with an empty body).',
    authScopes: actorScopes,
    args: { conversationId: t.arg.id({ required: true, validate: idSchema }), ...asUserIdArg() },
    validate: pageArgsSchema,
    resolve: async (_root, args, ctx) => {
      const actor = await actorOf(ctx, args.asUserId);
      return keysetConnection(args, { key: (m: MessageRow) => m.seq, isKey: isInt }, (page) =>
        ctx.services.messages.page(actor, args.conversationId, page),
      );
    },
  }),
}));

builder.mutationFields((t) => ({
  sendMessage: t.field({
    type: MessageRef,
    authScopes: actorScopes,
    args: { input: t.arg({ type: SendMessageInput, required: true }), ...asUserIdArg() },
    resolve: async (_root, { input, asUserId }, ctx) => ctx.services.messages.send(await actorOf(ctx, asUserId), input),
  }),
  editMessage: t.field({
    type: MessageRef,
    authScopes: actorScopes,
    args: {
      id: t.arg.id({ required: true, validate: idSchema }),
      body: t.arg.string({ required: true, validate: safeText }), // the service checks the size
      ...asUserIdArg(),
    },
    resolve: async (_root, args, ctx) => ctx.services.messages.edit(await actorOf(ctx, args.asUserId), args.id, args.body),
  }),
  deleteMessage: t.field({
    type: MessageRef,
    authScopes: actorScopes,
    args: { id: t.arg.id({ required: true, validate: idSchema }), ...asUserIdArg() },
    resolve: async (_root, args, ctx) => ctx.services.messages.delete(await actorOf(ctx, args.asUserId), args.id),
  }),
  markDelivered: markField(t, 'delivered'),
  markRead: markField(t, 'read'),
}));
