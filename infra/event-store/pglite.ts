/**
 * Embedded event store on PGlite (PostgreSQL in WASM, in-process): the same tables, append function and
 * queries as the PostgreSQL adapter (see sql.ts, and postgres.ts for the design). PGlite runs one
 * statement at a time, so there is never a concurrent transaction and the xmin horizon is simply
 * "everything committed", but the SQL is kept identical. Live subscriptions are woken by PGlite's
 * in-process LISTEN/NOTIFY (db.listen), by appends through this store, and by the safety-net poll.
 */
import type { EmbeddedPostgres } from '../sql/pglite.ts';
import type { EventStore } from './port.ts';
import { migrationSql, type SqlDriver, SqlEventStore, type SqlStoreOptions } from './sql.ts';

export interface PgliteEventStoreOptions extends SqlStoreOptions {
  db: EmbeddedPostgres;
  /** Default `public`. */
  schema?: string;
  /** Run `migrate` first (default true; idempotent). */
  migrate?: boolean;
}

const driver = (db: EmbeddedPostgres): SqlDriver => ({
  query: async (text, params) => (await db.query<Record<string, unknown>>(text, params)).rows,
  transaction: (fn) =>
    db.transaction((tx) =>
      fn(async (text, params) => (await tx.query<Record<string, unknown>>(text, params)).rows),
    ),
  exec: async (script) => {
    await db.exec(script);
  },
  listen: async (channel, onNotify) => {
    const unlisten = await db.listen(channel, onNotify);
    return async () => {
      if (!db.closed) await unlisten();
    };
  },
});

/** Creates (or updates) the event store's tables and append function in `schema`. */
export const migrate = async ({
  db,
  schema = 'public',
}: {
  db: EmbeddedPostgres;
  schema?: string;
}): Promise<void> => {
  await driver(db).exec(migrationSql(schema));
};

/** close() ends the store's subscriptions and its LISTEN; the PGlite instance belongs to the caller. */
export const createPgliteEventStore = async (options: PgliteEventStoreOptions): Promise<EventStore> => {
  const schema = options.schema ?? 'public';
  if (options.migrate !== false) await migrate({ db: options.db, schema });
  // One connection: a second batch in flight would only queue behind the first.
  // No autovacuum in PGlite: the store keeps the planner's statistics itself.
  return new SqlEventStore('pglite', driver(options.db), schema, {
    maxInFlight: 1,
    autoAnalyze: true,
    ...options,
  });
};
