/** Reads of the log: one stream, several streams, and every stream in log order (filtered). */
import type { RecordedEvent } from '../../../events/envelope.ts';
import type { AllFilter, ReadAllOptions, ReadStreamOptions } from '../port.ts';
import {
  COLUMNS,
  type Cursor,
  checkCount,
  DEFAULT_READ_ALL_MAX,
  INT4_MAX,
  type Row,
  toRecordedEvent,
} from './rows.ts';
import type { SqlContext } from './types.ts';

export const readStream = async (
  db: SqlContext,
  stream: string,
  options: ReadStreamOptions = {},
): Promise<RecordedEvent[]> => {
  const backwards = options.direction === 'backwards';
  const from = checkCount(options.fromRevision, 'fromRevision') ?? (backwards ? INT4_MAX : 0);
  const max = checkCount(options.maxCount, 'maxCount');
  if (max === 0) return [];
  const rows = await db.driver.query(
    `SELECT ${COLUMNS} FROM ${db.s}.events e
      WHERE e.stream = $1 AND e.revision ${backwards ? '<=' : '>='} $2
      ORDER BY e.revision ${backwards ? 'DESC' : 'ASC'} LIMIT $3`,
    [stream, Math.min(from, INT4_MAX), max],
  );
  return (rows as Row[]).map(toRecordedEvent);
};

export const readStreams = async (
  db: SqlContext,
  streams: string[],
): Promise<Map<string, RecordedEvent[]>> => {
  const out = new Map<string, RecordedEvent[]>(streams.map((s) => [s, []]));
  if (streams.length === 0) return out;
  const rows = await db.driver.query(
    `SELECT ${COLUMNS} FROM ${db.s}.events e WHERE e.stream = ANY($1::text[]) ORDER BY e.stream, e.revision`,
    [[...out.keys()]],
    // A plan cached for a short array over a small table scans the whole table once both have grown.
    { oneOff: true },
  );
  for (const row of rows as Row[]) {
    const event = toRecordedEvent(row);
    out.get(event.stream)!.push(event);
  }
  return out;
};

/** WHERE clauses for a filter, with their parameters numbered from `next`. */
export const filterSql = (filter: AllFilter | undefined, params: unknown[]): string => {
  let where = '';
  if (filter?.types) {
    params.push(filter.types);
    where += ` AND e.type = ANY($${params.length}::text[])`;
  }
  if (filter?.streamPrefix) {
    params.push(filter.streamPrefix);
    where += ` AND starts_with(e.stream, $${params.length})`;
  }
  if (filter?.tenant !== undefined) {
    params.push(filter.tenant);
    // The same expression as events_tenant_log_order's, so that index serves it.
    where += ` AND (e.metadata->>'tenant') = $${params.length}::text`;
  }
  if (filter?.correlationId !== undefined) {
    params.push(filter.correlationId);
    // No index of its own: it narrows what the tenant's index (or the log order) already reads.
    where += ` AND (e.metadata->>'correlationId') = $${params.length}::text`;
  }
  return where;
};

export const readAll = async (db: SqlContext, options: ReadAllOptions = {}): Promise<RecordedEvent[]> => {
  const from = checkCount(options.after, 'after') ?? 0;
  const max = checkCount(options.maxCount, 'maxCount') ?? DEFAULT_READ_ALL_MAX;
  if (max === 0 || options.filter?.types?.length === 0) return [];
  const params: unknown[] = [max];
  let where = `e.tx_id < (SELECT pg_snapshot_xmin(pg_current_snapshot()))`;
  if (from > 0) {
    params.push(from);
    const p = `$${params.length}::bigint`;
    where += ` AND (e.tx_id, e.position) > ((SELECT a.tx_id FROM ${db.s}.events a WHERE a.position = ${p}), ${p})`;
  }
  where += filterSql(options.filter, params);
  const rows = await db.driver.query(
    `SELECT ${COLUMNS} FROM ${db.s}.events e WHERE ${where} ORDER BY e.tx_id, e.position LIMIT $1`,
    params,
  );
  if (rows.length === 0 && from > 0) await cursorOf(db, from); // throws when `after` is not in the log
  return (rows as Row[]).map(toRecordedEvent);
};

/** The newest event below the visibility horizon, in log order: what readAll can return now (0: none). */
export const readHead = async (db: SqlContext): Promise<number> => {
  const rows = await db.driver.query(
    `SELECT e.position FROM ${db.s}.events e WHERE e.tx_id < (SELECT pg_snapshot_xmin(pg_current_snapshot()))
      ORDER BY e.tx_id DESC, e.position DESC LIMIT 1`,
    [],
  );
  return rows[0] ? Number(rows[0].position) : 0;
};

/** The log-order cursor of `position`; throws when it is not in the log. */
export const cursorOf = async (db: SqlContext, position: number): Promise<Cursor> => {
  if (position === 0) return { tx: 0n, position: 0 };
  const rows = await db.driver.query(`SELECT tx_id::text AS tx FROM ${db.s}.events WHERE position = $1`, [
    position,
  ]);
  if (!rows[0]) throw new RangeError(`position ${position} is not in the log`);
  return { tx: BigInt(String(rows[0].tx)), position };
};
