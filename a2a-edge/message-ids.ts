/**
 * Ids the edge derives from a client's `messageId`, so that a retried message finds what the first one made.
 *
 * A2A leaves task ids to the server; deriving them (rather than drawing a random UUID) from the tenant, the
 * endpoint's bound agent and the messageId makes "the same message sent twice" one stream in the log: the
 * second append finds the first's command id and is a replay, on any edge process, with no lookup table and
 * no window after which a duplicate slips through. The tenant is part of the hash, so two tenants' equal
 * messageIds never meet, and ids stay unguessable across tenants without a secret because reads are scoped.
 */
import { createHash } from 'node:crypto';

/** A UUID (version 8, RFC 9562: custom) from a SHA-256 of the given parts. */
export const derivedUuid = (...parts: string[]): string => {
  const b = createHash('sha256').update(parts.join('\u0000')).digest();
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.subarray(0, 16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
};

/** The task a new message (no taskId) creates, and the command id of its submission. */
export const submissionIds = (tenant: string, scope: string, messageId: string) => ({
  taskId: derivedUuid('task', tenant, scope, messageId),
  commandId: derivedUuid('submit', tenant, scope, messageId),
  pushConfigId: derivedUuid('push', tenant, scope, messageId),
});

/** The command id of a follow-up message to an existing task: a retried follow-up is recorded once. */
export const followUpCommandId = (tenant: string, taskId: string, messageId: string): string =>
  derivedUuid('input', tenant, taskId, messageId);
