/**
 * Records a refused command in the tenant's audit stream (`audit-<tenant>`, events/audit.ts): only on the
 * refusal path, so an accepted command costs nothing more than its events' metadata.
 */
import { randomUUID } from 'node:crypto';
import { auditStream, type CommandRefused } from '../events/audit.ts';
import type { EventMetadata } from '../events/envelope.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import { CommandError } from './errors.ts';

/** Who was refused, and from where: the same fields an accepted command's metadata carries. */
export interface RefusedBy {
  tenant: string;
  principal: string;
  requestId?: string;
  source?: string;
}

/** What was refused and why. `command` and `stream` are the operation's when handle() did not name them. */
export interface Refusal {
  command: string;
  stream?: string | null;
  status: string;
  reason: string;
}

/** A refusal's message, cut to a size an audit row keeps (a validation message can list many issues). */
const MAX_REASON = 2000;

/**
 * The refusal as the audit stream records it: the command and stream handle() named on the error, when it
 * did (a decider's rule), else the caller's.
 */
export const refusalOf = (error: unknown, fallback: Refusal): Refusal => {
  const named = error instanceof CommandError ? error.refused : undefined;
  return {
    ...fallback,
    command: named?.command ?? fallback.command,
    stream: named?.stream ?? fallback.stream ?? null,
    reason:
      fallback.reason.length > MAX_REASON ? `${fallback.reason.slice(0, MAX_REASON - 1)}…` : fallback.reason,
  };
};

/**
 * Appends a CommandRefused to the caller's tenant's audit stream. No expected revision: refusals of one
 * tenant never conflict with each other, and no domain stream is touched.
 *
 * @example
 * await recordRefusal(store, caller, refusalOf(error, { command: 'CancelTask', status, reason: error.message }));
 */
export const recordRefusal = async (
  store: EventStore,
  by: RefusedBy,
  refusal: Refusal,
  at = new Date().toISOString(),
): Promise<void> => {
  const id = randomUUID();
  const metadata: EventMetadata = {
    tenant: by.tenant,
    principal: by.principal,
    correlationId: by.requestId ?? id,
    causationId: id,
    command: refusal.command,
    ...(by.requestId ? { requestId: by.requestId } : {}),
    ...(by.source ? { source: by.source } : {}),
  };
  const data: CommandRefused['data'] = {
    command: refusal.command,
    stream: refusal.stream ?? null,
    status: refusal.status,
    reason: refusal.reason,
    at,
  };
  await store.append(auditStream(by.tenant), [{ id, type: 'CommandRefused', data, metadata }], {
    expectedRevision: 'any',
  });
};
