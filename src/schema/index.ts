// Imports only: each module registers its types, queries and mutations on the builder.
import { builder } from './builder.ts';
import './scalars.ts';
import '../modules/tenant/tenant.graphql.ts';
import '../modules/signing-key/signing-key.graphql.ts';
import '../modules/app/app.graphql.ts';
import '../modules/user/user.graphql.ts';
import '../modules/conversation/conversation.graphql.ts';
import '../modules/conversation/conversation-events.graphql.ts';
import '../modules/message/message.graphql.ts';
import '../modules/presence/presence.graphql.ts';
import '../modules/webhook/webhook.graphql.ts';
import '../modules/moderation/moderation.graphql.ts';
import '../modules/usage/usage.graphql.ts';

export const schema = builder.toSchema({ sortSchema: true });
