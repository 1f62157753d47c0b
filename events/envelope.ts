/**
 * The envelope every event travels in (ids, stream, positions, tenant, principal, trace) and typed narrowing.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** Tenant and principal ids become NATS subject tokens, so they are restricted to a subject-safe alphabet. */
export const tenantId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'tenant must be 1-63 chars of a-z, 0-9, "_" or "-"');

export const eventMetadata = z.object({
  tenant: tenantId,
  principal: z.string().min(1),
  correlationId: z.string().min(1),
  causationId: z.string().min(1).nullable(),
  /** W3C trace context, `00-<trace-id>-<span-id>-<flags>`. */
  traceparent: z
    .string()
    .regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/)
    .optional(),
  /** For the audit trail (projections/audit.ts), optional so older events still read: the command's type, */
  command: z.string().min(1).optional(),
  /** the HTTP request that carried it (X-Request-Id) */
  requestId: z.string().min(1).optional(),
  /** and the address it came from (the socket's peer). */
  source: z.string().min(1).optional(),
});
export type EventMetadata = z.infer<typeof eventMetadata>;

/** An event as a command handler produces it, before the store gives it a place in the log. */
export interface NewEvent<Type extends string = string, Data = unknown> {
  id: string;
  type: Type;
  data: Data;
  schemaVersion?: number;
  metadata: EventMetadata;
}

/** An event as it is stored: the envelope every consumer sees. */
export interface RecordedEvent<Type extends string = string, Data = unknown> {
  id: string;
  stream: string;
  /** 0-based index of the event in its stream. */
  revision: number;
  /**
   * Place in the global log. Unique; the log order is the order in which readAll and subscribeAll
   * return events. On PostgreSQL that order is (transaction id, position), see infra/event-store/postgres.ts.
   */
  position: number;
  type: Type;
  schemaVersion: number;
  occurredAt: string;
  data: Data;
  metadata: EventMetadata;
}

/** The aggregate type of a stream is the part of its name before the first '-': `task-123` is a `task`. */
export const categoryOf = (stream: string): string => {
  const dash = stream.indexOf('-');
  return dash < 0 ? stream : stream.slice(0, dash);
};

export const streamName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_:@-]*$/, 'stream names use letters, digits, "_", ":", "@" and "-"');

/** A UUID (v5 layout) derived from `text`: the same text always gives the same id (derived task and run ids). */
export const derivedUuid = (text: string): string => {
  const h = createHash('sha1').update(text).digest('hex');
  const variant = ((Number.parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

/** An event's zod schema as events/ writes them: a literal `type` and the `data` it carries. */
export type EventSchema = z.ZodObject<{ type: z.ZodLiteral<string>; data: z.ZodType }>;

/** The recorded event of one schema's type, its data typed as that schema reads it. */
export type RecordedOf<S extends EventSchema> = RecordedEvent<z.output<S>['type'], z.output<S>['data']>;

/** An event (recorded or about to be) of one schema's type: its data typed as that schema reads it. */
export type Narrowed<E extends { type: string; data: unknown }, S extends EventSchema> = E & {
  type: z.output<S>['type'];
  data: z.output<S>['data'];
};

/**
 * Whether `event` is of the type `schema` describes; narrows its data to the schema's type. The data is not
 * parsed again: the hub's deciders wrote it with that type, and upcasters bring older versions to it.
 */
export const isEvent = <S extends EventSchema, E extends { type: string; data: unknown }>(
  schema: S,
  event: E | undefined,
): event is Narrowed<E, S> => event !== undefined && event.type === schema.shape.type.value;

/** `event`'s data as `schema` reads it, for a handler that receives only that type (another is a bug: throws). */
export const dataOf = <S extends EventSchema>(schema: S, event: RecordedEvent): z.output<S>['data'] => {
  if (!isEvent(schema, event)) {
    throw new TypeError(`expected a ${schema.shape.type.value} event, got ${event.type} (${event.id})`);
  }
  return event.data;
};
