import {
  execute,
  GraphQLBoolean,
  GraphQLID,
  GraphQLInt,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLString,
  parse,
  type DocumentNode,
  type ExecutionArgs,
} from 'graphql';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { shapeOf, sharedPayload } from '../../src/http/shared-frames.ts';

// http/shared-frames.ts: a live event is executed and serialized once per subscription shape
// (operation name, printed document, the values of the variables its selection uses), and
// never shared when its execution is asynchronous or has errors. A tiny schema of our own,
// whose resolvers count their calls: a count that stays put means nothing was executed.

type Event = { id: string; seq: number; body: string; author: string };

const calls = { id: 0, seq: 0, body: 0, text: 0, author: 0, slow: 0, broken: 0 };
const counted = <K extends keyof typeof calls, R>(name: K, resolve: (e: Event, args: Record<string, unknown>) => R) => (e: Event, args: Record<string, unknown>) => {
  calls[name] += 1;
  return resolve(e, args);
};

const Item = new GraphQLObjectType<Event>({
  name: 'Item',
  fields: {
    id: { type: new GraphQLNonNull(GraphQLID), resolve: counted('id', (e) => e.id) },
    seq: { type: GraphQLInt, resolve: counted('seq', (e) => e.seq) },
    body: { type: GraphQLString, resolve: counted('body', (e) => e.body) },
    text: {
      type: GraphQLString,
      args: { upper: { type: GraphQLBoolean }, prefix: { type: GraphQLString } },
      resolve: counted('text', (e, args) => `${(args.prefix as string | undefined) ?? ''}${args.upper ? e.body.toUpperCase() : e.body}`),
    },
    author: { type: GraphQLString, resolve: counted('author', (e) => e.author) },
    /** Asynchronous, as a user to load would be; rejects when the event's body says so. */
    slow: {
      type: GraphQLString,
      resolve: counted('slow', (e) => (e.body === 'reject' ? Promise.reject(new Error('late failure')) : Promise.resolve(`slow ${e.id}`))),
    },
    broken: {
      type: GraphQLString,
      resolve: counted('broken', () => {
        throw new Error('boom');
      }),
    },
  },
});

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({ name: 'Query', fields: { ok: { type: GraphQLBoolean, resolve: () => true } } }),
  subscription: new GraphQLObjectType({
    name: 'Subscription',
    fields: {
      items: {
        type: Item,
        args: { afterSeq: { type: GraphQLInt }, id: { type: GraphQLID } },
        subscribe: async function* () {},
        resolve: (event: Event) => event,
      },
    },
  }),
});

let counter = 0;
/** A fresh event object (the bus hands every subscriber of a topic the same one). */
const newEvent = (body = 'hello'): Event => ({ id: `evt_${++counter}`, seq: counter, body, author: 'usr_1' });
/** Execution arguments as graphql-ws passes them to `subscribe` (each subscriber parses its own document). */
const argsOf = (source: string | DocumentNode, variableValues: Record<string, unknown> = {}, operationName?: string): ExecutionArgs => ({
  schema,
  document: typeof source === 'string' ? parse(source) : source,
  variableValues,
  ...(operationName ? { operationName } : {}),
});
/** What graphql-js gives that subscriber for the event: its own execution, serialized as graphql-ws would. */
const ownExecution = (args: ExecutionArgs, event: Event) => JSON.stringify(execute({ ...args, rootValue: event }));
const total = () => Object.values(calls).reduce((a, b) => a + b, 0);

const FULL = `
  subscription Full($afterSeq: Int, $id: ID) {
    items(afterSeq: $afterSeq, id: $id) { id seq body author }
  }
`;

beforeEach(() => {
  for (const name of Object.keys(calls) as (keyof typeof calls)[]) calls[name] = 0;
});

describe('shapeOf and sharedPayload', () => {
  it('the same document with different root-field arguments: one key, one execution for both, the JSON graphql-js gives', () => {
    const first = argsOf(FULL, { afterSeq: 1, id: 'a' });
    const second = argsOf(FULL, { afterSeq: 7, id: 'b' }); // parsed on its own: another DocumentNode, the same text
    expect(shapeOf(second).key).toBe(shapeOf(first).key);

    const event = newEvent();
    const one = sharedPayload(event, shapeOf(first));
    expect(calls).toMatchObject({ id: 1, seq: 1, body: 1, author: 1 });
    const two = sharedPayload(event, shapeOf(second));
    expect(calls).toMatchObject({ id: 1, seq: 1, body: 1, author: 1 }); // not executed again
    expect(total()).toBe(4);

    expect(one).toBeTypeOf('string');
    expect(two).toBe(one);
    expect(JSON.parse(one!)).toEqual({ data: { items: { id: event.id, seq: event.seq, body: 'hello', author: 'usr_1' } } });
    expect(one).toBe(ownExecution(first, event));
    expect(one).toBe(ownExecution(second, event));
  });

  it('a variable the selection uses (a directive, a field argument, a fragment, also one the root field uses too) is part of the key', () => {
    const cases: [string, Record<string, unknown>, Record<string, unknown>][] = [
      [
        `subscription S($afterSeq: Int, $withBody: Boolean!) { items(afterSeq: $afterSeq) { id body @include(if: $withBody) } }`,
        { afterSeq: 1, withBody: true },
        { afterSeq: 1, withBody: false },
      ],
      [`subscription S($afterSeq: Int, $upper: Boolean) { items(afterSeq: $afterSeq) { id text(upper: $upper) } }`, { upper: true }, { upper: false }],
      [
        `subscription S($upper: Boolean) { items { ...F } } fragment F on Item { id text(upper: $upper) }`,
        { upper: true },
        { upper: false },
      ],
      // $id chooses the stream and is also printed in the payload: it belongs in the key.
      [`subscription S($id: ID) { items(id: $id) { id text(prefix: $id) } }`, { id: 'x:' }, { id: 'y:' }],
    ];
    for (const [source, withOne, withOther] of cases) {
      const one = argsOf(source, withOne);
      const other = argsOf(source, withOther);
      expect(shapeOf(one).key, source).not.toBe(shapeOf(other).key);

      const event = newEvent('Mixed Case');
      const before = total();
      const payloadOne = sharedPayload(event, shapeOf(one));
      const afterOne = total();
      const payloadOther = sharedPayload(event, shapeOf(other));
      expect(afterOne, source).toBeGreaterThan(before);
      expect(total(), source).toBeGreaterThan(afterOne); // executed for each shape
      expect(payloadOne, source).toBe(ownExecution(one, event));
      expect(payloadOther, source).toBe(ownExecution(other, event));
      expect(payloadOne, source).not.toBe(payloadOther);
    }

    // The directive case in full: each gets exactly its own selection.
    const event = newEvent();
    const withBody = argsOf(`subscription S($withBody: Boolean!) { items { id body @include(if: $withBody) } }`, { withBody: true });
    const without = argsOf(`subscription S($withBody: Boolean!) { items { id body @include(if: $withBody) } }`, { withBody: false });
    expect(JSON.parse(sharedPayload(event, shapeOf(without))!)).toEqual({ data: { items: { id: event.id } } });
    expect(JSON.parse(sharedPayload(event, shapeOf(withBody))!)).toEqual({ data: { items: { id: event.id, body: 'hello' } } });
  });

  it('different selections, aliases or operation names are different shapes, each executed to its own payload', () => {
    const twoOperations = parse(`
      subscription One($v: String) { items { id text(prefix: $v) } }
      subscription Two($v: ID) { items(id: $v) { id body } }
    `);
    const variants: ExecutionArgs[] = [
      argsOf(`subscription { items { id seq } }`),
      argsOf(`subscription { items { id seq body } }`),
      argsOf(`subscription { items { id number: seq } }`), // an alias
      argsOf(`subscription { renamed: items { id seq } }`), // an alias on the root field
      argsOf(`subscription Named { items { id seq } }`), // an operation name
      argsOf(`subscription Other { items { id seq } }`),
      argsOf(twoOperations, { v: 'p:' }, 'One'),
      argsOf(twoOperations, { v: 'p:' }, 'Two'), // the same DocumentNode and variables, another operation
    ];
    const keys = variants.map((args) => shapeOf(args).key);
    expect(new Set(keys).size).toBe(variants.length);

    const event = newEvent('Loud');
    const payloads = variants.map((args) => sharedPayload(event, shapeOf(args)));
    variants.forEach((args, i) => expect(payloads[i], keys[i]).toBe(ownExecution(args, event)));
    expect(JSON.parse(payloads[2]!)).toEqual({ data: { items: { id: event.id, number: event.seq } } });
    expect(JSON.parse(payloads[3]!)).toEqual({ data: { renamed: { id: event.id, seq: event.seq } } });
    expect(JSON.parse(payloads[6]!)).toEqual({ data: { items: { id: event.id, text: 'p:Loud' } } });
    expect(JSON.parse(payloads[7]!)).toEqual({ data: { items: { id: event.id, body: 'Loud' } } });

    // Per operation: $v is in One's selection (keyed), only in Two's root arguments (not keyed).
    expect(shapeOf(argsOf(twoOperations, { v: 'q:' }, 'One')).key).not.toBe(keys[6]);
    expect(shapeOf(argsOf(twoOperations, { v: 'other' }, 'Two')).key).toBe(keys[7]);
  });

  it('an absent variable (its default applies) and an explicit null are different shapes', () => {
    const source = `subscription ($p: Boolean = true) { items { id body @include(if: $p) } }`;
    const absent = argsOf(source, {});
    const explicitNull = argsOf(source, { p: null });
    expect(shapeOf(absent).key).not.toBe(shapeOf(explicitNull).key);
    const event = newEvent();
    expect(JSON.parse(sharedPayload(event, shapeOf(absent))!)).toEqual({ data: { items: { id: event.id, body: 'hello' } } });
    // null for a Boolean! argument is an error in its own execution: not shared, not the default's payload.
    expect(sharedPayload(event, shapeOf(explicitNull))).toBeUndefined();
  });

  it('a variable named like an Object.prototype property ($constructor) is absent unless the client sent it', () => {
    const source = `subscription ($constructor: Boolean = true) { items { id body @include(if: $constructor) } }`;
    expect(shapeOf(argsOf(source, {})).key).not.toBe(shapeOf(argsOf(source, { constructor: null })).key);
  });

  it('an execution with errors is not shared, and that is remembered: no second execution', () => {
    const args = argsOf(`subscription { items { id broken } }`);
    const event = newEvent();
    expect(sharedPayload(event, shapeOf(args))).toBeUndefined();
    expect(calls).toMatchObject({ id: 1, broken: 1 });
    expect(sharedPayload(event, shapeOf(argsOf(`subscription { items { id broken } }`)))).toBeUndefined();
    expect(calls).toMatchObject({ id: 1, broken: 1 });
    // Its own execution (graphql-ws's) is what reports the error.
    expect(JSON.parse(ownExecution(args, event))).toMatchObject({ data: { items: { id: event.id, broken: null } }, errors: [{ message: 'boom' }] });
  });

  describe('an asynchronous execution', () => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => void rejections.push(reason);
    beforeEach(() => {
      rejections.length = 0;
      process.on('unhandledRejection', onRejection);
    });
    afterEach(() => void process.off('unhandledRejection', onRejection));

    for (const body of ['resolve', 'reject']) {
      it(`is not shared (its resolver's promise ${body}s), not executed again, and leaves no unhandled rejection`, async () => {
        const args = argsOf(`subscription { items { id slow } }`);
        const event = newEvent(body);
        expect(sharedPayload(event, shapeOf(args))).toBeUndefined();
        expect(sharedPayload(event, shapeOf(args))).toBeUndefined();
        expect(calls).toMatchObject({ id: 1, slow: 1 });
        // Let the abandoned execution settle.
        for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
        expect(rejections).toEqual([]);
        // A synchronous selection of the same event is still shared.
        expect(sharedPayload(event, shapeOf(argsOf(`subscription { items { id } }`)))).toBe(JSON.stringify({ data: { items: { id: event.id } } }));
      });
    }
  });

  it('another event object is executed again, to its own payload, also for a shape already seen', () => {
    const args = argsOf(FULL, { afterSeq: 0 });
    const first = newEvent('first');
    const second = newEvent('second');
    const one = sharedPayload(first, shapeOf(args));
    expect(calls).toMatchObject({ id: 1, body: 1 });
    const two = sharedPayload(second, shapeOf(args));
    expect(calls).toMatchObject({ id: 2, body: 2 });
    expect(JSON.parse(two!)).toEqual({ data: { items: { id: second.id, seq: second.seq, body: 'second', author: 'usr_1' } } });

    // An equal but distinct object is another event too (the cache is by identity).
    const copy = { ...first };
    expect(sharedPayload(copy, shapeOf(args))).toBe(one);
    expect(calls).toMatchObject({ id: 3, body: 3 });
    // And the first one's payload is still cached.
    expect(sharedPayload(first, shapeOf(args))).toBe(one);
    expect(calls).toMatchObject({ id: 3, body: 3 });
    expect(one).toBe(ownExecution(args, first));
    expect(two).toBe(ownExecution(args, second));
  });
});
