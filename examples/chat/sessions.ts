import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { DemoRoom } from './demo-room.ts';
import type { Gql } from './parley-api.ts';

// A visitor's session with the example backend: who they are in Parley (a user of the demo
// app, a member of the room) and a short-lived user token for their browser. The session
// itself is a signed, HttpOnly cookie naming the user, so /token can mint the next token
// without the page ever holding anything but its own current token.

export type Session = { userId: string; displayName: string; conversationId: string; token: string; expiresAt: string };

export class BadInput extends Error {}

const NAME = /^[^\p{Cc}\p{Cf}]{1,40}$/u;

export function createSessions(gql: Gql, room: DemoRoom, { tokenTtlSeconds }: { tokenTtlSeconds: number }) {
  const app = { apiKey: room.apiKey };
  const cookieKey = randomBytes(32);
  const sign = (userId: string) => createHmac('sha256', cookieKey).update(userId).digest('base64url');

  async function tokenFor(userId: string) {
    const { createUserToken } = await gql<{ createUserToken: { token: string; expiresAt: string } }>(
      app,
      `mutation ExampleToken($input: CreateUserTokenInput!) { createUserToken(input: $input) { token expiresAt } }`,
      { input: { userId, ttlSeconds: tokenTtlSeconds } },
    );
    return createUserToken;
  }

  return {
    /** Makes (or finds) the user named so, puts them in the room, and gives them a token. */
    async join(rawName: unknown): Promise<Session> {
      const displayName = typeof rawName === 'string' ? rawName.trim() : '';
      if (!NAME.test(displayName)) throw new BadInput('name: 1 to 40 printable characters');
      // One user per name: the demo has no passwords, and joining again is coming back.
      const { upsertUser } = await gql<{ upsertUser: { id: string } }>(
        app,
        `mutation ExampleJoin($input: UpsertUserInput!) { upsertUser(input: $input) { id } }`,
        { input: { externalId: `guest:${displayName.toLowerCase()}`, displayName } },
      );
      // Adding someone who is already a member changes nothing (and writes no event).
      await gql(
        app,
        `mutation ExampleAddMember($host: ID!, $room: ID!, $user: ID!) { addMembers(asUserId: $host, conversationId: $room, userIds: [$user]) { id } }`,
        { host: room.hostUserId, room: room.conversationId, user: upsertUser.id },
      );
      return { userId: upsertUser.id, displayName, conversationId: room.conversationId, ...(await tokenFor(upsertUser.id)) };
    },

    /** The next token for the session's user, or null for no (or a forged) session. */
    async refresh(cookie: string | undefined) {
      const userId = cookie && verify(cookie);
      return userId ? tokenFor(userId) : null;
    },

    cookieFor: (userId: string) => `${userId}.${sign(userId)}`,
  };

  function verify(cookie: string) {
    const dot = cookie.lastIndexOf('.');
    const userId = cookie.slice(0, dot);
    const given = Buffer.from(cookie.slice(dot + 1));
    const expected = Buffer.from(sign(userId));
    return dot > 0 && given.length === expected.length && timingSafeEqual(given, expected) ? userId : null;
  }
}

export type Sessions = ReturnType<typeof createSessions>;
