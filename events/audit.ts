/**
 * The audit trail's own event: a command the hub refused, kept in a per-tenant stream `audit-<tenant>` so
 * that refusals are in the log without mixing into the domain streams they would have changed.
 */
import { z } from 'zod';

/**
 * A command refused before anything was written: a rule of its aggregate, invalid input, a target that does
 * not exist, or a key not allowed to act for the tenant. Who asked, and from where, is in the metadata
 * (principal, requestId, source), as for an accepted command's events. Never holds secrets: `reason` is the
 * refusal's message, which names fields, not their values.
 */
export const CommandRefused = z.object({
  type: z.literal('CommandRefused'),
  data: z.object({
    /** The command refused (`CancelTask`, `RegisterAgent`), or the operation when it was refused before one was made. */
    command: z.string().min(1),
    /** The stream the command was for, when it was known. */
    stream: z.string().nullable(),
    /** The answer's status (`FAILED_PRECONDITION`, `INVALID_ARGUMENT`, ...). */
    status: z.string().min(1),
    reason: z.string(),
    at: z.string(),
  }),
});
export type CommandRefused = z.infer<typeof CommandRefused>;

export const AUDIT_STREAM_PREFIX = 'audit-';
export const auditStream = (tenant: string) => `${AUDIT_STREAM_PREFIX}${tenant}`;
