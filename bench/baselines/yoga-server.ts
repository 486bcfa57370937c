/**
 * Baseline of `npm run bench`: a plain GraphQL Yoga + graphql-ws server, as the docs of both
 * set it up. Same `conversationEvents` selection shape as Parley (a MessageCreated with
 * message { id seq body sender { id displayName } createdAt }), an in-memory pub/sub
 * (graphql-yoga's createPubSub), `mutation publish(conversationId, body) { seq }` over HTTP,
 * and the default per-subscriber execution: each event is executed once per subscription.
 * Persists nothing, checks nothing. Listens on 127.0.0.1:$PORT, GraphQL at /graphql.
 */
import { createServer } from 'node:http';
import { createPubSub, createSchema, createYoga } from 'graphql-yoga';
import { useServer } from 'graphql-ws/use/ws';
import { ulid } from 'ulid';
import { WebSocketServer } from 'ws';
import type { ExecutionArgs } from 'graphql';
import type { MessageCreated } from '../lib/wire.ts';

const port = Number(process.env.PORT ?? 0);
const pubSub = createPubSub<{ events: [conversationId: string, event: MessageCreated] }>();
const seqs = new Map<string, number>();
const sender = { id: `usr_${ulid()}`, displayName: 'User 1' };

const schema = createSchema({
  typeDefs: /* GraphQL */ `
    scalar DateTime
    type User { id: ID! displayName: String }
    type Message { id: ID! seq: Int! body: String! sender: User! createdAt: DateTime! }
    interface ConversationEvent { type: String! conversationId: ID! seq: Int at: DateTime! }
    type MessageCreated implements ConversationEvent { type: String! conversationId: ID! seq: Int at: DateTime! message: Message! }
    type Published { seq: Int! }
    type Query { ok: Boolean! }
    type Mutation { publish(conversationId: ID!, body: String!): Published! }
    type Subscription { conversationEvents(conversationId: ID!, afterSeq: Int): ConversationEvent! }
  `,
  resolvers: {
    Query: { ok: () => true },
    ConversationEvent: { __resolveType: () => 'MessageCreated' },
    Mutation: {
      publish: (_: unknown, { conversationId, body }: { conversationId: string; body: string }) => {
        const seq = (seqs.get(conversationId) ?? 0) + 1;
        seqs.set(conversationId, seq);
        const at = new Date().toISOString();
        pubSub.publish('events', conversationId, {
          __typename: 'MessageCreated',
          type: 'conversation.message.created',
          conversationId,
          seq,
          at,
          message: { id: ulid(), seq, body, sender, createdAt: at },
        });
        return { seq };
      },
    },
    Subscription: {
      conversationEvents: {
        subscribe: (_: unknown, { conversationId }: { conversationId: string }) => pubSub.subscribe('events', conversationId),
        resolve: (event: MessageCreated) => event,
      },
    },
  },
});

const yoga = createYoga({ schema, graphqlEndpoint: '/graphql', logging: false, graphiql: false });
const server = createServer(yoga);
const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint });

type RootValue = { execute: (args: ExecutionArgs) => unknown; subscribe: (args: ExecutionArgs) => unknown };

// The setup of Yoga's "Subscriptions: graphql-ws" guide.
useServer(
  {
    execute: (args) => (args.rootValue as RootValue).execute(args) as never,
    subscribe: (args) => (args.rootValue as RootValue).subscribe(args) as never,
    onSubscribe: async (ctx, _id, params) => {
      const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
        ...ctx,
        req: ctx.extra.request,
        socket: ctx.extra.socket,
        params,
      });
      const document = parse(params.query);
      const errors = validate(schema, document);
      if (errors.length) return errors;
      return {
        schema,
        document,
        operationName: params.operationName,
        variableValues: params.variables,
        contextValue: await contextFactory(),
        rootValue: { execute, subscribe } satisfies RootValue,
      };
    },
  },
  wss,
);

server.listen(port, '127.0.0.1', () => console.log(`listening ${(server.address() as { port: number }).port}`));
process.on('SIGTERM', () => process.exit(0));
