/**
 * PostgreSQL event store (postgres.js).
 *
 * Tables (in the given schema, default `public`; created by `migrate`, see sql.ts):
 *   events(position bigserial PK, tx_id xid8 DEFAULT pg_current_xact_id(), stream, revision, id uuid UNIQUE,
 *          type, schema_version, occurred_at, data jsonb, metadata jsonb, UNIQUE(stream, revision))
 *   streams(stream PK, revision): the current revision of each stream, and the row its appenders lock.
 *
 * Appending is one round trip: `append_events(stream, expected, revision, events jsonb)`, a PL/pgSQL
 * function that locks the stream's row (SELECT ... FOR UPDATE, or inserts it for a new stream), answers an
 * idempotent re-append with the original result, checks the expected revision (raising SQLSTATE AC001 with
 * the actual revision, mapped to ConcurrencyError), inserts the events with dense revisions, bumps the
 * stream row and NOTIFYs the schema's channel. Appenders of one stream queue on that row lock, so 'any'
 * never fails and a stale expected revision always fails cleanly; appenders of different streams do not
 * wait for each other.
 *
 * THE GAP PROBLEM. `position` comes from a sequence when the row is inserted, but transactions commit in
 * any order: T1 takes position 10, T2 takes position 11 and commits first. A reader that has seen 11 and
 * checkpoints "position > 11" never sees 10 when T1 commits. Waiting for gaps to fill does not work
 * either (a rolled-back transaction leaves a gap forever).
 *
 * The fix: every row records the id of the transaction that wrote it (`tx_id`, a 64-bit xid8 that never
 * wraps), and the log order is (tx_id, position), not position. Readers only return rows with
 *     tx_id < pg_snapshot_xmin(pg_current_snapshot())
 * xmin is the oldest transaction still running when the reader's statement started: every transaction
 * below it has finished (committed or rolled back), and any transaction that has not committed yet, or
 * has not even started, has an id >= xmin. So the set of rows below the horizon never changes once the
 * horizon has passed them, and nothing can ever appear before a point a reader has already read:
 * checkpointing the last (tx_id, position) seen is exact. `readAll({ after })` takes a plain position
 * (RecordedEvent.position, the bigserial) and looks up that event's tx_id to find its place in the log.
 *
 * The price: an event becomes visible to readAll / subscribeAll only once every transaction that was
 * already running when it committed has ended, in the whole cluster (xids are cluster-wide). A long
 * transaction that holds an xid (an idle-in-transaction session, a prepared transaction, a long batch job)
 * stalls readAll and subscriptions until it ends: it delays delivery, it never loses or reorders events.
 * Also: a position learnt from an append result or readStream is not a safe readAll checkpoint for the
 * events before it; checkpoint what readAll / subscribeAll returned. readStream needs no horizon (one
 * stream's rows are committed under its lock, in revision order).
 *
 * Subscriptions: catch-up pages of readAll, then live. One LISTEN connection per store (postgres.js opens
 * it for sql.listen) wakes every subscription of the store; appends made through this store wake them
 * directly; and a slow poll (500 ms) is the safety net for an event that became readable only because
 * some other transaction ended. Each subscription tracks its (tx_id, position) cursor, so it never misses
 * nor repeats an event and delivers in log order.
 */
import type postgres from 'postgres';
import type { EventStore } from './port.ts';
import { migrationSql, type SqlDriver, SqlEventStore, type SqlStoreOptions } from './sql.ts';

export interface PostgresEventStoreOptions extends SqlStoreOptions {
  sql: postgres.Sql;
  /** Default `public`. */
  schema?: string;
  /** Run `migrate` first (default true; idempotent and safe to run concurrently). */
  migrate?: boolean;
  /** Use named prepared statements (default true). Set false behind a transaction-mode pooler. */
  prepare?: boolean;
}

const driver = (sql: postgres.Sql, prepare: boolean): SqlDriver => ({
  query: async (text, params) =>
    (await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare })) as unknown as Record<
      string,
      unknown
    >[],
  exec: async (script) => {
    await sql.unsafe(script).simple();
  },
  listen: async (channel, onNotify) => {
    const meta = await sql.listen(channel, onNotify, onNotify);
    return () => meta.unlisten();
  },
});

/** Creates (or updates) the event store's tables and append function in `schema`. */
export const migrate = async ({ sql, schema = 'public' }: { sql: postgres.Sql; schema?: string }): Promise<void> => {
  await driver(sql, false).exec(migrationSql(schema));
};

/** close() ends the store's subscriptions and its LISTEN; the `sql` pool belongs to the caller. */
export const createPostgresEventStore = async (options: PostgresEventStoreOptions): Promise<EventStore> => {
  const schema = options.schema ?? 'public';
  if (options.migrate !== false) await migrate({ sql: options.sql, schema });
  return new SqlEventStore('postgres', driver(options.sql, options.prepare ?? true), schema, options);
};
