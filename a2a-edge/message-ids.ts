/**
 * Ids the edge derives from a client's `messageId`, so that a retried message finds what the first one made.
 *
 * A2A leaves task ids to the server; deriving them (rather than drawing a random UUID) from the tenant, the
 * endpoint's bound agent and the messageId makes "the same message sent twice" one stream in the log: the
 * second append finds the first's command id and is a replay, on any edge process, with no lookup table and
 * no window after which a duplicate slips through. The tenant is part of the hash, so two tenants' equal
 * messageIds never meet, and ids stay unguessable across tenants without a secret because reads are scoped.
 */
import { derivedUuid as uuidOf } from '../events/envelope.ts';

/** A UUID derived from the given parts (NUL-separated, so no two lists of parts give the same text). */
const derivedUuid = (...parts: string[]): string => uuidOf(parts.join('\u0000'));

/** The task a new message (no taskId) creates, and the command id of its submission. */
export const submissionIds = (tenant: string, scope: string, messageId: string) => ({
  taskId: derivedUuid('task', tenant, scope, messageId),
  commandId: derivedUuid('submit', tenant, scope, messageId),
  pushConfigId: derivedUuid('push', tenant, scope, messageId),
});

/** The command id of a follow-up message to an existing task: a retried follow-up is recorded once. */
export const followUpCommandId = (tenant: string, taskId: string, messageId: string): string =>
  derivedUuid('input', tenant, taskId, messageId);
