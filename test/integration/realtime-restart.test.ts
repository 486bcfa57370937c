import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { ok } from '../helpers/client.ts';
import { seedApp, seedGroup, seedUsers, type SeededUser } from '../helpers/seed.ts';
import { startServer, storeEnv, testStore } from '../helpers/server.ts';
import { connectWs, disposeAllWs, eventually, subscribeWs } from '../helpers/ws.ts';

// CONTRACT.md, guarantee 2: resume by afterSeq holds across a restart of the server.

const Send = graphql(`
  mutation RtRestartSend($input: SendMessageInput!) {
    sendMessage(input: $input) { seq }
  }
`);
const Events = graphql(`
  subscription RtRestartEvents($conversationId: ID!, $afterSeq: Int) {
    conversationEvents(conversationId: $conversationId, afterSeq: $afterSeq) { seq }
  }
`);

const seqs = (data: { conversationEvents: { seq: number | null } }[]) => data.map((d) => d.conversationEvents.seq!);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

afterEach(() => disposeAllWs());

describe('resume across a restart', () => {
  it('a subscriber cut off by a restart resumes with afterSeq on the new process: every event once, in order', async () => {
    const dir = testStore() === 'pglite' ? await mkdtemp(join(tmpdir(), 'parley-restart-')) : null;
    const env = { ...storeEnv(), ...(dir ? { DATA_DIR: dir } : {}), ADMIN_TOKEN: 'restart-test-admin-token' };
    let server = await startServer(env);
    try {
      const app = await seedApp(server);
      const [sender, reader] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
      const conversationId = await seedGroup(server, sender, [reader]);
      const send = (n: number) => ok(server.graphqlUrl, Send, { input: { conversationId, body: `m${n}` } }, { token: sender.token });

      const before = subscribeWs(connectWs(server, { token: reader.token }), Events, { conversationId, afterSeq: 0 });
      for (let n = 1; n <= 10; n++) await send(n);
      await eventually(() => expect(seqs(before.data)).toEqual(range(1, 10)));

      await server.close(); // the socket goes with it (1012)
      await eventually(() => expect(before.closed?.code).toBe(1012));
      server = await startServer(env);
      for (let n = 11; n <= 15; n++) await send(n); // sent while the reader is away

      const last = seqs(before.data).at(-1)!;
      const after = subscribeWs(connectWs(server, { token: reader.token }), Events, { conversationId, afterSeq: last });
      await eventually(() => expect(seqs(after.data)).toEqual(range(11, 15)));
      for (let n = 16; n <= 20; n++) await send(n);
      await eventually(() => expect([...seqs(before.data), ...seqs(after.data)]).toEqual(range(1, 20)));
      expect(after.errors).toEqual([]);
    } finally {
      await server.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  });
});
