/**
 * PostgreSQL event store (postgres.js).
 *
 * One table per schema (default `public`; created by `migrate`, SQL in sql.ts):
 *   events(position bigserial PK, tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(), stream, revision,
 *          id uuid UNIQUE, type, schema_version, occurred_at, data jsonb, metadata jsonb,
 *          UNIQUE (stream, revision)), indexed on (tx_id, position), (type, tx_id, position) and
 *          ((metadata->>'tenant'), tx_id, position) (one tenant's reads of the log, GET /api/events).
 *
 * APPEND goes through `append_locked`, a PL/pgSQL function run under the stream's transaction-scoped
 * advisory lock (appenders of one stream queue, other streams do not wait): it reads the stream's last
 * revision, answers an idempotent re-append (same ids, same order, same stream) with the original result,
 * refuses a wrong expected revision (AC001 -> ConcurrencyError with the actual revision) or an id stored
 * elsewhere (AC002 -> DuplicateEventError), and inserts the events with dense revisions. So 'any' never
 * fails, a stale expected revision always fails cleanly, and UNIQUE (stream, revision) is only a backstop
 * (its violation is mapped to ConcurrencyError too).
 *
 * GROUP COMMIT. The store sends appends made while earlier ones are in flight together, as one statement
 * `SELECT append_batch(items jsonb)` (sql.ts): every stream's lock first, in one order, then each append on
 * its own terms (a refused one writes nothing and the others go on), one transaction, one WAL flush. At most
 * two batches are in flight; an idle store sends an append at once. Inline projections (the tasks read
 * model) are written in the same transaction, pipelined behind the append, so a read model that shows an
 * event can never be ahead of or behind the log. The store wakes its own subscriptions and sends a NOTIFY
 * after the commit (a NOTIFY inside the append transaction serialises all commits and halved throughput).
 *
 * THE GAP PROBLEM. `position` comes from a sequence when the row is inserted, but transactions commit in
 * any order: T1 takes position 10, T2 takes 11 and commits first. A reader that has seen 11 and then
 * asks for "position > 11" never sees 10 when T1 commits. Waiting for gaps to fill does not work either
 * (a rolled-back transaction leaves a gap for ever).
 *
 * The fix: every row records the id of the transaction that wrote it (`tx_id`, a 64-bit xid8 that never
 * wraps around), and the LOG ORDER is (tx_id, position), not position. Readers only return rows with
 *     tx_id < pg_snapshot_xmin(pg_current_snapshot())
 * xmin is the oldest transaction still running when the reader's statement started: every transaction
 * below it has ended (committed or rolled back), and any transaction that has not committed yet, or not
 * even started, has an id >= xmin. So the rows below the horizon never change once the horizon has
 * passed them: nothing can ever appear before a point a reader has already read, and checkpointing the
 * last event read is exact. `readAll({ after })` takes a plain position (RecordedEvent.position, the
 * bigserial) and looks up that event's tx_id to find its place in the log; an unknown position throws.
 * Subscriptions keep the (tx_id, position) cursor themselves.
 *
 * Each stream is in revision order in the log order: a transaction gets its id at its first write,
 * after it has the stream's lock, so ids increase with the revisions of a stream (append_events checks
 * it, and raises AC003, retried by the store, for a transaction that already had an id).
 *
 * The price: an event becomes visible to readAll / subscribeAll only once every transaction that was
 * running when it committed has ended, in the whole cluster (xids are cluster-wide). A long transaction
 * holding an xid (an idle-in-transaction session, a prepared transaction, a long batch job) stalls
 * readAll and subscriptions until it ends: it delays delivery, it never loses or reorders events. A
 * position learnt from an append result or readStream is not a safe readAll checkpoint for the events
 * before it: checkpoint what readAll / subscribeAll returned. readStream needs no horizon (it reads the
 * committed rows of one stream, written in revision order under the stream's lock).
 *
 * Subscriptions: readAll pages to catch up, then live. One LISTEN connection per store (postgres.js
 * keeps one per `sql` for sql.listen) wakes every subscription of the store; appends through this store
 * wake them directly; and a slow poll (500 ms) is the safety net, e.g. for an event that became
 * readable only because some unrelated transaction ended. Never misses, never repeats, log order.
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

type Rows = Record<string, unknown>[];
/** `customPlans`: the session plans every statement for its parameters, so `oneOff` ones can be prepared too. */
const queryOn =
  (sql: postgres.Sql | postgres.ReservedSql, prepare: boolean, customPlans = false): SqlDriver['query'] =>
  async (text, params, options) =>
    (await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], {
      prepare: prepare && (customPlans || !options?.oneOff),
    })) as unknown as Rows;

const driver = (sql: postgres.Sql, prepare: boolean): SqlDriver => ({
  query: queryOn(sql, prepare),
  // On a reserved connection rather than sql.begin, which waits for BEGIN's answer: here BEGIN goes out in
  // one write with the transaction's first statements (every round trip wakes the server process).
  transaction: async <T>(fn: (query: SqlDriver['query']) => Promise<T>) => {
    const conn = await sql.reserve();
    try {
      // Custom plans inside: the statements are prepared (one round trip each, not two) and still planned
      // for their own parameters (a generic plan cached while the tables were small scans them whole later).
      const begin = conn.unsafe('BEGIN; SET LOCAL plan_cache_mode = force_custom_plan').simple();
      begin.catch(() => {}); // starts it; its failure is the next statement's too
      try {
        const result = await fn(queryOn(conn, prepare, true));
        await begin;
        await conn.unsafe('COMMIT');
        return result;
      } catch (error) {
        await conn.unsafe('ROLLBACK').catch(() => {});
        throw error;
      }
    } finally {
      conn.release();
    }
  },
  exec: async (script) => {
    await sql.unsafe(script).simple();
  },
  listen: async (channel, onNotify) => {
    const meta = await sql.listen(channel, onNotify, () => onNotify(''));
    return () => meta.unlisten();
  },
});

/** Creates (or updates) the event store's tables and append function in `schema`. */
export const migrate = async ({
  sql,
  schema = 'public',
}: {
  sql: postgres.Sql;
  schema?: string;
}): Promise<void> => {
  await driver(sql, false).exec(migrationSql(schema));
};

/** close() ends the store's subscriptions and its LISTEN; the `sql` pool belongs to the caller. */
export const createPostgresEventStore = async (options: PostgresEventStoreOptions): Promise<EventStore> => {
  const schema = options.schema ?? 'public';
  if (options.migrate !== false) await migrate({ sql: options.sql, schema });
  return new SqlEventStore('postgres', driver(options.sql, options.prepare ?? true), schema, options);
};
