import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { GraphQLError, type ExecutionArgs } from 'graphql';
import { handleProtocols, makeServer, type SubscribePayload } from 'graphql-ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Viewer } from '../auth/viewer.ts';
import type { Deps } from '../deps.ts';
import { clientAddressOf } from '../lib/client-address.ts';
import { AppError } from '../lib/errors.ts';
import { createTokenBucket, type TokenBucket } from '../lib/token-bucket.ts';
import { CloseCodes } from '../realtime/close-codes.ts';
import { createConnectionRegistry } from '../realtime/connection-registry.ts';
import { observeSocket, type SocketObserver } from '../observability/socket-log.ts';
import { requestIdOf } from '../observability/request-log.ts';
import { shapeErrors } from './error-masking.ts';
import { createDirectWriter, type DirectWriter } from './direct-writer.ts';
import { createHeartbeat } from './heartbeat.ts';
import { createOriginPolicy } from './origins.ts';
import { persistedSource } from './persisted-operations.ts';
import type { ParleyYoga } from './yoga.ts';

/**
 * `id` is for logs (a client may choose it); `presenceId` is unique, for presence; `budget`
 * meters the client's messages (the tenant's once it is known).
 */
type Extra = { socket: WebSocket; request?: IncomingMessage; id: string; presenceId: string; viewer?: Viewer; budget: MessageBudget; observer: SocketObserver };
type RootValue = { execute: (args: ExecutionArgs) => unknown; subscribe: (args: ExecutionArgs) => unknown; writer: DirectWriter };

const SOCKET = { keepHttp: false };
const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
/** How long a new socket waits for the bus to confirm its revocation topics (Redis away: no longer). */
const BUS_READY_WAIT_MS = 2_000;
/** Before connection_init is accepted, a client has nothing to say but that (and pings). */
const UNAUTHENTICATED_MESSAGES_PER_SECOND = 5;
/** A burst of this many seconds' worth: a client subscribing to many conversations at once. */
const BURST_SECONDS = 2;
type MessageBudget = { perSecond: number; bucket: TokenBucket };
const budgetOf = (perSecond: number): MessageBudget => ({ perSecond, bucket: createTokenBucket(perSecond, perSecond * BURST_SECONDS) });

/**
 * GraphQL subscriptions over WebSocket on the HTTP port, at /graphql, with the
 * graphql-transport-ws protocol (graphql-ws's `makeServer` over `ws`, wired here rather than
 * with its `useServer` starter so that sends, liveness and close codes are ours):
 * - authentication once, in connection_init: a bad or missing credential closes with 4401;
 * - keep-alive pings; a socket that does not answer one within the interval is terminated;
 * - a client that stops reading is cut off (4008) when its send buffer passes the bound, or
 *   when a subscription falls more than WS_MAX_PENDING_EVENTS behind; it resumes by afterSeq;
 * - at most WS_MAX_SUBSCRIPTIONS_PER_SOCKET subscriptions a socket, and the tenant's
 *   maxSocketsPerUser sockets per end user (4029 past it);
 * - the upgrade's Origin header (browsers send it) must be in the app's allowedOrigins (4403);
 * - revoking a user's sessions or an API key closes the sockets they opened (4401), and
 *   suspending a tenant closes all of its sockets (4403), on every node.
 */
export async function wsPlugin(app: FastifyInstance, { deps, yoga }: { deps: Deps; yoga: ParleyYoga }) {
  const { keepAliveMs, maxBufferedBytes, maxSubscriptionsPerSocket } = deps.config.ws;
  const { tracker, tenants } = deps.services;
  const registry = createConnectionRegistry({ bus: deps.bus });
  const origins = createOriginPolicy({ apps: deps.services.stores.apps });
  const clientAddress = clientAddressOf(deps.config.trustProxy);
  const wss = new WebSocketServer({ noServer: true, maxPayload: deps.config.maxBodyBytes, handleProtocols });

  app.server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== yoga.graphqlEndpoint) return void socket.destroy();
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  const server = makeServer<Record<string, unknown> | undefined, Extra>({
    connectionInitWaitTimeout: 10_000,

    async onConnect(ctx) {
      const { socket } = ctx.extra;
      // Read here only: not kept for the socket's life (headers and all, per idle socket).
      const request = ctx.extra.request!;
      ctx.extra.request = undefined;
      ctx.extra.observer.initialising();
      const params = ctx.connectionParams ?? {};
      const credential = { authorization: text(params.authorization), apiKey: text(params.apiKey) };
      // A refused credential is the client's (4401, or 4403 for a suspended tenant); anything
      // else is ours: 1011, logged, so that clients retry instead of dropping their token.
      const refuse = (err: unknown) => {
        if (!(err instanceof AppError)) {
          app.log.error({ err, socketId: ctx.extra.id }, 'connection_init failed');
          socket.close(1011, 'Internal error');
        } else {
          const code = err.code === 'FORBIDDEN' ? CloseCodes.Forbidden : err.code === 'RATE_LIMITED' ? CloseCodes.TooManyAuthFailures : CloseCodes.Unauthorized;
          socket.close(code, err.message);
        }
        return false;
      };
      let viewer: Viewer;
      try {
        viewer = await deps.resolveViewer(credential, { clientAddress: clientAddress(request) });
        if (viewer.kind === 'anonymous') {
          socket.close(CloseCodes.Unauthorized, 'connection_init must carry { authorization: "Bearer <token>" } or { apiKey }');
          return false;
        }
        if (!(await origins.permits(viewer, text(request.headers.origin), request.headers.host))) {
          socket.close(CloseCodes.Forbidden, "This origin is not in the app's allowedOrigins");
          return false;
        }
      } catch (err) {
        return refuse(err);
      }
      if (viewer.kind === 'operator') {
        ctx.extra.viewer = viewer;
        ctx.extra.budget = budgetOf(Number.MAX_SAFE_INTEGER);
        ctx.extra.observer.accepted(viewer);
        return true;
      }
      const { maxSocketsPerUser, wsMessagesPerSecond } = await tenants.limits(viewer.scope.tenantId);
      if (viewer.kind === 'user') {
        // Counted across every node when presence lives in Redis.
        if (!(await tracker.connect(viewer.scope, viewer.userId, ctx.extra.presenceId, maxSocketsPerUser))) {
          socket.close(CloseCodes.TooManySockets, `At most ${maxSocketsPerUser} sockets per user`);
          return false;
        }
      }
      // Closed while we were admitting it (any viewer: the awaits above took a while): onClose,
      // which sees no viewer yet, would not take it out of presence, the registry or the usage counts.
      if (socket.readyState !== socket.OPEN) {
        if (viewer.kind === 'user') await tracker.disconnect(viewer.scope, viewer.userId, ctx.extra.presenceId);
        return false;
      }
      ctx.extra.budget = budgetOf(wsMessagesPerSecond);
      // From here on onClose takes the socket out of the registry (and presence).
      ctx.extra.viewer = viewer;
      const listening = registry.add(viewer, socket);
      deps.services.usage.socketOpened(viewer); // (counted out in onClose, like the registry)
      // A suspension or revocation announced while this socket was being admitted reached no
      // node holding it: once the registry hears such announcements, read the credential again.
      try {
        await Promise.race([listening, new Promise((resolve) => setTimeout(resolve, BUS_READY_WAIT_MS).unref())]);
        await deps.resolveViewer(credential);
      } catch (err) {
        return refuse(err);
      }
      const open = socket.readyState === socket.OPEN;
      if (open) ctx.extra.observer.accepted(viewer);
      return open;
    },

    async onSubscribe(ctx, id, payload: SubscribePayload) {
      // graphql-ws has already registered this subscription's id when it calls onSubscribe.
      if (Object.keys(ctx.subscriptions).length > maxSubscriptionsPerSocket) {
        return [
          new GraphQLError(`At most ${maxSubscriptionsPerSocket} subscriptions per socket`, {
            extensions: { code: 'RATE_LIMITED', retryAfterSeconds: 1, requestId: `${ctx.extra.id}/${id}` },
          }),
        ];
      }
      const { socket } = ctx.extra;
      const requestId = `${ctx.extra.id}/${id}`;
      const writer = createDirectWriter({
        socket,
        id,
        running: () => id in ctx.subscriptions,
        maxBufferedBytes,
        cutOff: () => cutOff(socket),
        written: () => ctx.extra.observer.next(id, undefined),
      });
      const connection = { id: ctx.extra.id, slowConsumer: () => cutOff(socket), direct: writer.write };
      const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
        socket: { viewer: ctx.extra.viewer!, requestId, connection },
      });
      let document;
      try {
        document = parse(persistedSource(deps.config.persistedOperations, payload, ctx.extra.viewer!));
      } catch (err) {
        return shapeErrors([err as GraphQLError], requestId, app.log, SOCKET);
      }
      const errors = validate(schema, document);
      if (errors.length > 0) return shapeErrors(errors, requestId, app.log, SOCKET);
      return {
        schema,
        document,
        operationName: payload.operationName,
        variableValues: payload.variables,
        contextValue: await contextFactory(),
        rootValue: { execute, subscribe, writer } satisfies RootValue,
      };
    },
    execute: (args) => (args.rootValue as RootValue).execute(args) as never,
    subscribe: (args) => {
      const { subscribe, writer } = args.rootValue as RootValue;
      writer.bind(args); // the direct path executes events with these (shared-frames.ts)
      return subscribe(args) as never;
    },
    // Logs and metrics of each subscription (observability/socket-log.ts).
    onOperation: (ctx, id, _payload, args, result) => void ctx.extra.observer.operation(id, args, Symbol.asyncIterator in Object(result)),
    onNext: (ctx, id, _payload, _args, result) => {
      const errors = result.errors && shapeErrors(result.errors, `${ctx.extra.id}/${id}`, app.log, SOCKET);
      ctx.extra.observer.next(id, errors);
      return errors ? { ...result, errors } : undefined;
    },
    onError: (ctx, id, _payload, errors) => {
      const shaped = shapeErrors(errors, `${ctx.extra.id}/${id}`, app.log, SOCKET);
      ctx.extra.observer.failed(id, shaped);
      return shaped;
    },
    onComplete: (ctx, id) => ctx.extra.observer.complete(id),

    async onClose(ctx) {
      const { viewer, socket } = ctx.extra;
      if (viewer?.kind === 'app' || viewer?.kind === 'user') {
        registry.remove(viewer, socket);
        deps.services.usage.socketClosed(viewer);
      }
      if (viewer?.kind !== 'user') return;
      await tracker.disconnect(viewer.scope, viewer.userId, ctx.extra.presenceId).catch((err: unknown) => app.log.error({ err }, 'presence: disconnect failed'));
    },
  });

  /**
   * Closes a socket whose client stopped reading. Such a client may not answer the close
   * handshake either (ws would wait 30 s): like a missed pong, it is terminated if still not
   * closed one keep-alive interval later.
   */
  function cutOff(socket: WebSocket) {
    if (socket.readyState !== socket.OPEN) return;
    socket.close(CloseCodes.SlowConsumer, 'Slow consumer: reconnect and resume with afterSeq');
    setTimeout(() => socket.readyState !== socket.CLOSED && socket.terminate(), keepAliveMs).unref();
  }


  const heartbeat = createHeartbeat(keepAliveMs);

  wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    const id = requestIdOf(request.headers, 'ws-');
    const observer = observeSocket(app.log, deps.metrics, id); // logs 'socket opened'

    heartbeat.add(socket);

    const extra: Extra = { socket, request, id, presenceId: randomUUID(), budget: budgetOf(UNAUTHENTICATED_MESSAGES_PER_SECOND), observer };
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise<void>((resolve) => {
            if (socket.readyState !== socket.OPEN) return resolve();
            // Backpressure: a client that stopped reading is not allowed to grow our memory.
            if (socket.bufferedAmount > maxBufferedBytes) {
              cutOff(socket);
              return resolve();
            }
            socket.send(data, () => resolve());
          }),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (cb) =>
          socket.on('message', (message) => {
            // Over the budget: the socket is closed (the client reconnects after a pause and
            // resumes by afterSeq) rather than each message refused, which would still cost a reply.
            if (!extra.budget.bucket.take()) {
              if (socket.readyState === socket.OPEN) socket.close(CloseCodes.TooManyMessages, `At most ${extra.budget.perSecond} messages per second per socket`);
              return;
            }
            cb(String(message)).catch((err: unknown) => {
              app.log.error({ err, requestId: id }, 'socket message failed');
              socket.close(1011, 'Internal error');
            });
          }),
      },
      extra,
    );
    socket.once('close', (code, reason) => {
      heartbeat.remove(socket);
      observer.closed(code, String(reason));
      void closed(code, String(reason));
    });
    socket.on('error', (err) => app.log.warn({ err, requestId: id }, 'socket error'));
  });

  // Before the HTTP server stops: tell clients to go elsewhere, and let subscriptions end.
  // (The heartbeat runs until every socket is gone: one that stops answering is terminated.)
  app.addHook('preClose', async () => {
    for (const socket of wss.clients) socket.close(CloseCodes.ServiceRestart, 'Server restarting: reconnect and resume with afterSeq');
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    heartbeat.stop();
  });
}
