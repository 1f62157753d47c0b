/**
 * Wire form of a RecordedEvent on the bus, shared by both adapters so that the in-process bus hands its
 * consumers exactly what JetStream would (a fresh JSON copy: no shared mutable objects, no Dates, no
 * undefined fields).
 */
import type { RecordedEvent } from '../../events/envelope.ts';

export const HEADER_POSITION = 'Ac-Position';
export const HEADER_EVENT_ID = 'Ac-Event-Id';
export const HEADER_TYPE = 'Ac-Type';
export const HEADER_ERROR = 'Ac-Error';
export const HEADER_DURABLE = 'Ac-Durable';
export const HEADER_DELIVERIES = 'Ac-Deliveries';
/** Set on an event published without its data (too large for the bus): the size it had. */
export const HEADER_OMITTED = 'Ac-Omitted';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const eventToJson = (e: RecordedEvent): string => JSON.stringify(e);

export const eventFromJson = (json: string): RecordedEvent => {
  const e = JSON.parse(json) as RecordedEvent;
  if (
    e === null ||
    typeof e !== 'object' ||
    typeof e.id !== 'string' ||
    typeof e.position !== 'number' ||
    typeof e.type !== 'string' ||
    typeof e.stream !== 'string' ||
    typeof e.metadata !== 'object' ||
    e.metadata === null
  ) {
    throw new Error('bus message is not a RecordedEvent envelope');
  }
  return e;
};

export const encodeEvent = (e: RecordedEvent): Uint8Array => encoder.encode(eventToJson(e));
export const decodeEvent = (bytes: Uint8Array): RecordedEvent => eventFromJson(decoder.decode(bytes));

/** Header values cannot carry CR/LF; long messages are cut so that a header stays small. */
export const headerSafe = (s: string, max = 1000): string => {
  const flat = s.replace(/[\r\n]+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

export const errorMessage = (err: unknown): string =>
  err instanceof Error
    ? err.message || err.name
    : typeof err === 'string'
      ? err
      : (JSON.stringify(err) ?? String(err));

export const defaultBackoffMs = (deliveryCount: number): number => 200 * 2 ** Math.max(0, deliveryCount - 1);

/** The port's defaults, in one place for both adapters. */
export const consumerDefaults = { maxAckPending: 256, ackWaitMs: 30_000, maxDeliver: 5 } as const;

/**
 * Durable names become JetStream consumer names (no subject or path separators); both adapters apply the
 * same rule so that a name that works embedded also works distributed.
 */
export const validDurable = (durable: string): string => {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(durable)) {
    throw new Error(`durable name "${durable}" must be 1-200 chars of letters, digits, "_" or "-"`);
  }
  return durable;
};
