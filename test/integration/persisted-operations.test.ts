import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { graphql } from '../generated/index.ts';
import { authHeaders, type Credential, type GqlError } from '../helpers/client.ts';
import { seedApp, type SeededApp } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { connectWs, disposeAllWs, eventually, type WsError } from '../helpers/ws.ts';

// PERSISTED_OPERATIONS_FILE: a client sends a document's SHA-256 (Apollo-style
// extensions.persistedQuery) instead of the document, over HTTP (POST, GET) and WebSocket.
// With PERSISTED_OPERATIONS_ONLY, apps and users may run nothing else; the operator may.

const Upsert = graphql(`
  mutation PersistedUpsert($input: UpsertUserInput!) {
    upsertUser(input: $input) { id }
  }
`);
const Token = graphql(`
  mutation PersistedToken($input: CreateUserTokenInput!) {
    createUserToken(input: $input) { token }
  }
`);
const Me = graphql(`
  query PersistedMe { me { id externalId } }
`);
const CreateGroup = graphql(`
  mutation PersistedCreateGroup($input: CreateConversationInput!) {
    createConversation(input: $input) { id }
  }
`);
const Send = graphql(`
  mutation PersistedSend($input: SendMessageInput!) {
    sendMessage(input: $input) { seq }
  }
`);
const Events = graphql(`
  subscription PersistedEvents($conversationId: ID!, $afterSeq: Int) {
    conversationEvents(conversationId: $conversationId, afterSeq: $afterSeq) {
      type seq
      ... on MessageCreated { message { body } }
    }
  }
`);
/** Not in the manifest. */
const NotListed = graphql(`
  query PersistedNotListed { me { id } }
`);
const Tenants = graphql(`
  query PersistedTenants { tenants(first: 1) { edges { node { id } } } }
`);

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const hashOf = (document: TypedDocumentNode<unknown, never>) => sha256(print(document));
const LISTED = [Upsert, Token, Me, CreateGroup, Send, Events] as TypedDocumentNode<unknown, never>[];

type Body<R> = { data?: R | null; errors?: GqlError[] };
type Reply<R> = { status: number; body: Body<R> };

let dir: string;
/** Writes a manifest into the temp dir: raw text, or an object of hash → document. */
function manifest(name: string, content: string | Record<string, string>) {
  const file = join(dir, name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

async function post<R>(url: string, body: Record<string, unknown>, cred: Credential): Promise<Reply<R>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...authHeaders(cred) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Body<R> };
}
const persistedQuery = (hash: string) => ({ persistedQuery: { version: 1, sha256Hash: hash } });
/** A persisted operation by its hash, over POST. */
const byHash = <R, V>(url: string, document: TypedDocumentNode<R, V>, variables: V, cred: Credential, hash = hashOf(document as never)) =>
  post<R>(url, { variables, extensions: persistedQuery(hash) }, cred);
/** The full document, as a client without persisted operations sends it. */
const byDocument = <R, V>(url: string, document: TypedDocumentNode<R, V>, variables: V, cred: Credential) =>
  post<R>(url, { query: print(document), variables }, cred);
const data = <R>(reply: Reply<R>) => {
  expect(reply.body.errors).toBeUndefined();
  expect(reply.status).toBe(200);
  return reply.body.data!;
};

type Server = TestServer & { app: SeededApp; user: { id: string; token: string } };
let only: Server;
let open: Server;

/** A tenant, app and key by the operator's full documents (allowed even with ONLY); a user by hashes. */
async function withUser(server: TestServer): Promise<Server> {
  const app = await seedApp(server);
  const cred = { apiKey: app.apiKey };
  const { upsertUser } = data(await byHash(server.graphqlUrl, Upsert, { input: { externalId: 'alice', displayName: 'Alice' } }, cred));
  const { createUserToken } = data(await byHash(server.graphqlUrl, Token, { input: { userId: upsertUser.id } }, cred));
  return Object.assign(server, { app, user: { id: upsertUser.id, token: createUserToken.token } });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parley-persisted-'));
  // graphql-codegen's client preset keys its manifest `sha256:<hex>`; a plain hex key is accepted too.
  const file = manifest(
    'persisted-documents.json',
    Object.fromEntries(LISTED.map((d, i) => [i % 2 ? `sha256:${hashOf(d)}` : hashOf(d), print(d)])),
  );
  only = await withUser(await startServer({ PERSISTED_OPERATIONS_FILE: file, PERSISTED_OPERATIONS_ONLY: 'true' }));
  open = await withUser(await startServer({ PERSISTED_OPERATIONS_FILE: file }));
});
afterEach(() => disposeAllWs());
afterAll(async () => {
  await Promise.all([only?.close(), open?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('a persisted operation by its hash', () => {
  it('runs over HTTP POST, for a user and an app, with or without ONLY', async () => {
    for (const server of [only, open]) {
      expect(data(await byHash(server.graphqlUrl, Me, {}, { token: server.user.token }))).toEqual({ me: { id: server.user.id, externalId: 'alice' } });
      const { upsertUser } = data(await byHash(server.graphqlUrl, Upsert, { input: { externalId: 'alice', displayName: 'A' } }, { apiKey: server.app.apiKey }));
      expect(upsertUser.id).toBe(server.user.id);
    }
  });

  it('runs over HTTP GET, and a codegen-style `sha256:` hash is accepted as well', async () => {
    for (const hash of [hashOf(Me as never), `sha256:${hashOf(Me as never)}`]) {
      const url = `${only.graphqlUrl}?extensions=${encodeURIComponent(JSON.stringify(persistedQuery(hash)))}`;
      const res = await fetch(url, { headers: { accept: 'application/graphql-response+json', ...authHeaders({ token: only.user.token }) } });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ data: { me: { id: only.user.id, externalId: 'alice' } } });
    }
  });

  it('subscribes over WebSocket (a subscribe message with an empty query and the hash), and persisted mutations feed it', async () => {
    const cred = { token: only.user.token };
    const { createConversation } = data(await byHash(only.graphqlUrl, CreateGroup, { input: { kind: 'GROUP', memberIds: [], title: 't' } }, cred));
    const ws = connectWs(only, cred);
    await ws.connected;
    const received: unknown[] = [];
    const errors: WsError[] = [];
    ws.client.subscribe(
      { query: '', variables: { conversationId: createConversation.id, afterSeq: 0 }, extensions: persistedQuery(hashOf(Events as never)) },
      { next: (r) => void (r.data ? received.push(r.data) : errors.push(...(r.errors as WsError[]))), error: (e) => void errors.push(...(e as WsError[])), complete: () => {} },
    );
    data(await byHash(only.graphqlUrl, Send, { input: { conversationId: createConversation.id, body: 'hello' } }, cred));
    await eventually(() =>
      expect(received).toEqual([{ conversationEvents: { type: 'conversation.message.created', seq: 1, message: { body: 'hello' } } }]),
    );
    expect(errors).toEqual([]);
  });
});

describe('refusals', () => {
  it('an unknown hash is BAD_USER_INPUT, HTTP 400, naming where the hash goes', async () => {
    for (const server of [only, open]) {
      const reply = await byHash(server.graphqlUrl, NotListed, {}, { token: server.user.token });
      expect(reply.status).toBe(400);
      expect(reply.body.data).toBeUndefined();
      expect(reply.body.errors).toHaveLength(1);
      expect(reply.body.errors![0]).toMatchObject({
        message: expect.stringMatching(/^PersistedQueryNotFound: no persisted operation has this hash/),
        extensions: { code: 'BAD_USER_INPUT', requestId: expect.any(String), issues: [{ path: 'extensions.persistedQuery.sha256Hash' }] },
      });
    }
    // Not a hash at all: the same answer.
    const reply = await byHash(only.graphqlUrl, Me, {}, { token: only.user.token }, 'not-a-hash');
    expect([reply.status, reply.body.errors?.[0]?.extensions.code]).toEqual([400, 'BAD_USER_INPUT']);
  });

  it('neither a query nor a hash is BAD_USER_INPUT, HTTP 400', async () => {
    const reply = await post(only.graphqlUrl, { variables: {} }, { token: only.user.token });
    expect(reply.status).toBe(400);
    expect(reply.body.errors?.[0]).toMatchObject({ message: expect.stringContaining('persistedQuery'), extensions: { code: 'BAD_USER_INPUT' } });
  });

  it('with ONLY, a full document from an app or a user is FORBIDDEN (HTTP 403), even one that is in the manifest', async () => {
    for (const [document, cred] of [
      [Me, { token: only.user.token }],
      [NotListed, { token: only.user.token }],
      [Tenants, { apiKey: only.app.apiKey }],
      [Me, { none: true }],
    ] as const) {
      const reply = await byDocument(only.graphqlUrl, document as TypedDocumentNode<unknown, Record<string, never>>, {}, cred);
      expect(reply.status).toBe(403);
      expect(reply.body.data).toBeUndefined();
      expect(reply.body.errors).toEqual([
        {
          message: expect.stringMatching(/^Only persisted operations are accepted/),
          extensions: { code: 'FORBIDDEN', requestId: expect.any(String) },
        },
      ]);
    }
  });

  it('with ONLY, the operator still sends full documents', async () => {
    const { tenants } = data(await byDocument(only.graphqlUrl, Tenants, {}, { token: only.adminToken }));
    expect(tenants.edges).toHaveLength(1);
  });

  it('without ONLY, full documents run as before, listed or not', async () => {
    expect(data(await byDocument(open.graphqlUrl, NotListed, {}, { token: open.user.token }))).toEqual({ me: { id: open.user.id } });
    expect(data(await byDocument(open.graphqlUrl, Me, {}, { token: open.user.token })).me.id).toBe(open.user.id);
  });

  it('over WebSocket: with ONLY a full document from a user is FORBIDDEN, the operator\'s runs; an unknown hash is BAD_USER_INPUT', async () => {
    const user = connectWs(only, { token: only.user.token });
    const operator = connectWs(only, { token: only.adminToken });
    await Promise.all([user.connected, operator.connected]);
    const run = (ws: typeof user, payload: { query: string; extensions?: Record<string, unknown>; variables?: Record<string, unknown> }) =>
      new Promise<{ data?: unknown; errors?: WsError[] }>((resolve) => {
        let result: { data?: unknown; errors?: WsError[] } = {};
        ws.client.subscribe(payload, {
          next: (r) => void (result = r as typeof result),
          error: (e) => resolve({ errors: e as WsError[] }),
          complete: () => resolve(result),
        });
      });
    const refused = await run(user, { query: print(Events), variables: { conversationId: 'cnv_x' } });
    expect(refused.errors).toEqual([
      { message: expect.stringMatching(/^Only persisted operations are accepted/), extensions: { code: 'FORBIDDEN', requestId: expect.any(String) } },
    ]);
    const unknown = await run(user, { query: '', extensions: persistedQuery(sha256('nothing')) });
    expect(unknown.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', issues: [{ path: 'extensions.persistedQuery.sha256Hash' }] } });
    expect(unknown.errors?.[0]?.extensions).not.toHaveProperty('http');
    const byOperator = await run(operator, { query: print(Tenants) });
    expect(byOperator).toMatchObject({ data: { tenants: { edges: [{ node: { id: expect.any(String) } }] } } });
  });
});

describe('a bad manifest stops the start', () => {
  const env = (extra: Record<string, string>) => ({ ADMIN_TOKEN: 'x'.repeat(16), DATA_DIR: ':memory:', ...extra });
  const problemsOf = (extra: Record<string, string>) => {
    try {
      loadConfig(env(extra));
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems;
    }
    throw new Error('loadConfig accepted it');
  };

  it('an unreadable file, bad JSON, not an object, a wrong hash, a document that is not GraphQL, ONLY without a file', () => {
    expect(problemsOf({ PERSISTED_OPERATIONS_FILE: join(dir, 'missing.json') })).toEqual([
      expect.stringMatching(/^PERSISTED_OPERATIONS_FILE: cannot read .*missing\.json as JSON: ENOENT/),
    ]);
    expect(problemsOf({ PERSISTED_OPERATIONS_FILE: manifest('bad.json', '{"a":') })).toEqual([
      expect.stringMatching(/^PERSISTED_OPERATIONS_FILE: cannot read .*bad\.json as JSON/),
    ]);
    expect(problemsOf({ PERSISTED_OPERATIONS_FILE: manifest('array.json', '[]') })).toEqual([
      expect.stringMatching(/array\.json must be a JSON object/),
    ]);
    const me = print(Me);
    const wrong = sha256(`${me} `);
    expect(
      problemsOf({
        PERSISTED_OPERATIONS_FILE: manifest('wrong.json', { [wrong]: me, short: me, [sha256('{')]: '{', [hashOf(Me as never)]: me }),
      }),
    ).toEqual([
      expect.stringMatching(new RegExp(`"${wrong}" is not the SHA-256 of its document$`)),
      expect.stringMatching(/"short" is not a SHA-256 hex hash$/),
      expect.stringMatching(/the document of "\w+" is not valid GraphQL$/),
    ]);
    expect(problemsOf({ PERSISTED_OPERATIONS_ONLY: 'true' })).toEqual(['PERSISTED_OPERATIONS_ONLY: needs PERSISTED_OPERATIONS_FILE']);
    expect(problemsOf({ PERSISTED_OPERATIONS_FILE: manifest('ok.json', {}), PERSISTED_OPERATIONS_ONLY: 'yes' })).toEqual([
      expect.stringMatching(/^PERSISTED_OPERATIONS_ONLY: /),
    ]);
  });

  it('startServer rejects with the message, and an unset file leaves the feature off', async () => {
    const file = manifest('tampered.json', { [hashOf(Me as never)]: print(NotListed) });
    await expect(startServer({ PERSISTED_OPERATIONS_FILE: file })).rejects.toThrow(
      /^Invalid configuration:\n {2}- PERSISTED_OPERATIONS_FILE: .*tampered\.json: "[0-9a-f]{64}" is not the SHA-256 of its document$/,
    );
    expect(loadConfig(env({})).persistedOperations).toBeNull();
  });
});
