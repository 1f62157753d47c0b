/** Rows of the events table as readers see them: the columns read, their mapping, the log-order cursor. */
import type { RecordedEvent } from '../../../events/envelope.ts';

export const DEFAULT_READ_ALL_MAX = 1000;

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const INT4_MAX = 2147483647;

export const checkCount = (n: number | undefined, what: string): number | null => {
  if (n === undefined) return null;
  if (!Number.isInteger(n) || n < 0) throw new TypeError(`${what} must be a non-negative integer, got ${n}`);
  return n;
};

/** Cursor in the log order: (transaction id, position). */
export interface Cursor {
  tx: bigint;
  position: number;
}
export const after = (a: Cursor, b: Cursor) => a.tx > b.tx || (a.tx === b.tx && a.position > b.position);

export interface Row extends Record<string, unknown> {
  position: string | number;
  stream: string;
  revision: number;
  id: string;
  type: string;
  schemaVersion: number;
  occurredAt: string;
  data: string;
  metadata: string;
}

/** Most of the events' data one subscription page holds (at least one event, however large). */
export const PAGE_MAX_BYTES = 4 * 1024 * 1024;

/** Events a subscription's first page reads (then more, up to its pageSize, while pages fit its bytes). */
export const FIRST_PAGE_EVENTS = 16;

/** Column aliases have no underscore, so a column-name transform of the driver (postgres.camel) is harmless. */
export const COLUMNS = `e.position, e.stream, e.revision, e.id::text AS id, e.type, e.schema_version AS "schemaVersion",
  to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "occurredAt",
  e.data::text AS data, e.metadata::text AS metadata`;

export const toRecordedEvent = (r: Row): RecordedEvent => ({
  id: r.id,
  stream: r.stream,
  revision: Number(r.revision),
  position: Number(r.position),
  type: r.type,
  schemaVersion: Number(r.schemaVersion),
  occurredAt: r.occurredAt,
  data: JSON.parse(r.data),
  metadata: JSON.parse(r.metadata),
});
