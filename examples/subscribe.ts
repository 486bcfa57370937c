// Follows one conversation live, as an app's client would, and resumes where it left off.
//
//   PARLEY_TOKEN=<user token> CONVERSATION=<id> [AFTER_SEQ=0] [PARLEY_WS=ws://localhost:4000/graphql] \
//     npx tsx examples/subscribe.ts
//
// Prints one JSON line per event. Persisted events carry a seq; remember the last one you
// handled and pass it as AFTER_SEQ when you reconnect: you get exactly what you missed, then
// live events, each once and in order.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const url = process.env.PARLEY_WS ?? 'ws://localhost:4000/graphql';
const token = process.env.PARLEY_TOKEN;
const conversationId = process.env.CONVERSATION;
const afterSeq = process.env.AFTER_SEQ === undefined ? null : Number(process.env.AFTER_SEQ);
if (!token || !conversationId) {
  console.error('Set PARLEY_TOKEN and CONVERSATION (see the comment at the top of this file).');
  process.exit(2);
}

const client = createClient({ url, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` } });

const query = /* GraphQL */ `
  subscription Follow($conversationId: ID!, $afterSeq: Int) {
    conversationEvents(conversationId: $conversationId, afterSeq: $afterSeq) {
      __typename type seq at
      ... on MessageCreated { message { id body sender { displayName } } }
      ... on MessageUpdated { message { id body } }
      ... on MessageDeleted { message { id } }
      ... on MemberJoined { member { user { displayName } role } }
      ... on MemberLeft { userId }
      ... on Typing { userId typing }
      ... on ReadReceipt { userId lastReadSeq }
    }
  }
`;

client.subscribe(
  { query, variables: { conversationId, afterSeq } },
  {
    next: (result) => console.log(JSON.stringify(result.data?.conversationEvents ?? result)),
    error: (err) => {
      console.error('subscription ended:', err instanceof Error ? err.message : err);
      process.exit(1);
    },
    complete: () => {
      console.error('subscription completed (no longer a member)');
      process.exit(0);
    },
  },
);
process.on('SIGINT', async () => {
  await client.dispose();
  process.exit(0);
});
