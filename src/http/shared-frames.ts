import { execute, getOperationAST, Kind, print, visit, type ASTNode, type DocumentNode, type ExecutionArgs } from 'graphql';

/**
 * Execute and serialize once per event per distinct subscription shape (issue 9).
 *
 * What an event executes to depends on the operation's selection of the root field and the
 * variables that selection uses, not on the root field's own arguments (conversationId,
 * afterSeq, asUserId: they chose the stream, the event is already chosen) and not on the
 * viewer: nothing under a ConversationEvent reads the context but the app-scoped user loader,
 * and every subscriber of a topic is in the topic's app. A field that one day depends on who
 * is watching must put that in the shape key. So the subscribers of one conversation that
 * sent the same document share one execution and one JSON payload for each event.
 */

/**
 * A subscription's shape: the printed document (one string instance per document, shared by
 * every subscription of it) and its variant (operation name and the variables that matter),
 * and the arguments to execute an event with. Two levels, not one concatenated key: a
 * flattened key per subscription would copy the whole document into each.
 */
export type Shape = { document: string; variant: string; args: ExecutionArgs; readonly key: string };
const printed = new WeakMap<DocumentNode, string>();
const keyVariables = new WeakMap<DocumentNode, Map<string, string[]>>();

/** The variables an operation uses outside its root fields' arguments. */
function variablesOutsideRootArguments(document: DocumentNode, operationName: string | null | undefined): string[] {
  let byOperation = keyVariables.get(document);
  if (!byOperation) keyVariables.set(document, (byOperation = new Map()));
  const cached = byOperation.get(operationName ?? '');
  if (cached) return cached;
  const names = new Set<string>();
  const collect = (node: ASTNode) => visit(node, { Variable: (v) => void names.add(v.name.value) });
  for (const selection of getOperationAST(document, operationName)?.selectionSet.selections ?? []) {
    if (selection.kind !== Kind.FIELD) collect(selection);
    else {
      for (const directive of selection.directives ?? []) collect(directive);
      if (selection.selectionSet) collect(selection.selectionSet);
    }
  }
  for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) collect(definition);
  const list = [...names].sort();
  byOperation.set(operationName ?? '', list);
  return list;
}

export function shapeOf(args: ExecutionArgs): Shape {
  const { document, operationName, variableValues } = args;
  let text = printed.get(document);
  if (text === undefined) printed.set(document, (text = print(document)));
  // An absent variable ([]: its default applies) is not an explicit null ([null]); own
  // properties only (an absent $constructor is absent).
  const variables = variablesOutsideRootArguments(document, operationName).map((name) => (variableValues && Object.hasOwn(variableValues, name) ? [variableValues[name]] : []));
  const variant = `${operationName ?? ''}\u0000${JSON.stringify(variables)}`;
  return {
    document: text,
    variant,
    args,
    /** For tests and logs: equal keys, one shared payload. */
    get key() {
      return `${variant}\u0000${text}`;
    },
  };
}

/** Per event object (shared by every subscriber of the topic on this node): per document, per variant, the JSON payload, or null when unshareable. */
const payloads = new WeakMap<object, Map<string, Map<string, string | null>>>();

/**
 * The JSON of `{ data }` for `event` in `shape`, executed by the first subscriber that asks;
 * undefined when it cannot be shared: its execution went asynchronous (a user to load) or
 * produced errors, which each subscriber then gets through its own execution and error shaping.
 */
export function sharedPayload(event: object, shape: Shape): string | undefined {
  let byDocument = payloads.get(event);
  if (!byDocument) payloads.set(event, (byDocument = new Map()));
  let byVariant = byDocument.get(shape.document);
  if (!byVariant) byDocument.set(shape.document, (byVariant = new Map()));
  let payload = byVariant.get(shape.variant);
  if (payload === undefined) {
    const result = execute({ ...shape.args, rootValue: event });
    // A promise (a resolver went asynchronous) has no `data`: not shareable either.
    payload = !('data' in result) || result.errors ? null : JSON.stringify(result);
    byVariant.set(shape.variant, payload);
  }
  return payload ?? undefined;
}
