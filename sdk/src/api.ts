import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { Kind, type OperationDefinitionNode } from 'graphql';
import * as ops from './generated/graphql.ts';
import type { RequestFn } from './http.ts';

/** An operation as a method: its variables in (optional when none is required), its one root field out. */
export type Operation<R, V> = {} extends V ? (variables?: V) => Promise<R[keyof R]> : (variables: V) => Promise<R[keyof R]>;

/** The response key of the operation's only root field (every SDK operation selects exactly one). */
function rootField(document: TypedDocumentNode<unknown, unknown>): string {
  const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const field = operation?.selectionSet.selections[0];
  if (!field || field.kind !== Kind.FIELD) throw new Error('SDK operations select one root field');
  return field.alias?.value ?? field.name.value;
}

function operation<R, V>(request: RequestFn, document: TypedDocumentNode<R, V>): Operation<R, V> {
  const key = rootField(document as TypedDocumentNode<unknown, unknown>) as keyof R;
  return (async (variables?: V) => (await request(document, (variables ?? {}) as V))[key]) as Operation<R, V>;
}

/** One typed method per end-user query and mutation of the contract (types generated from schema.graphql). */
export function createApi(request: RequestFn) {
  return {
    me: operation(request, ops.MeDocument),
    conversation: operation(request, ops.ConversationDocument),
    conversations: operation(request, ops.ConversationsDocument),
    messages: operation(request, ops.MessagesDocument),
    presence: operation(request, ops.PresenceDocument),
    createConversation: operation(request, ops.CreateConversationDocument),
    addMembers: operation(request, ops.AddMembersDocument),
    removeMember: operation(request, ops.RemoveMemberDocument),
    leaveConversation: operation(request, ops.LeaveConversationDocument),
    updateMemberRole: operation(request, ops.UpdateMemberRoleDocument),
    sendMessage: operation(request, ops.SendMessageDocument),
    editMessage: operation(request, ops.EditMessageDocument),
    deleteMessage: operation(request, ops.DeleteMessageDocument),
    markDelivered: operation(request, ops.MarkDeliveredDocument),
    markRead: operation(request, ops.MarkReadDocument),
    sendTyping: operation(request, ops.SendTypingDocument),
  };
}
export type ParleyApi = ReturnType<typeof createApi>;
