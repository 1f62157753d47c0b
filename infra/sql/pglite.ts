/** The SQL port over PGlite (embedded PostgreSQL in WASM), in this thread or in a thread of its own. */
import type { SqlDatabase, SqlExecutor } from './port.ts';

interface PgliteQueries {
  query<Row>(text: string, params?: unknown[]): Promise<{ rows: Row[] }>;
}

/**
 * What the embedded adapters use of a PGlite instance: PGlite itself satisfies it, and so does
 * `startPgliteThread` (infra/sql/pglite-thread.ts), which runs PGlite beside the event loop instead of on it.
 */
export interface EmbeddedPostgres extends PgliteQueries {
  exec(script: string): Promise<unknown>;
  transaction<T>(fn: (tx: PgliteQueries) => Promise<T>): Promise<T>;
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
  readonly closed: boolean;
}

const executor = (db: PgliteQueries): SqlExecutor => ({
  query: async <Row>(text: string, params: unknown[] = []) => (await db.query<Row>(text, params)).rows,
});

export const pgliteDatabase = (db: EmbeddedPostgres): SqlDatabase => ({
  kind: 'pglite',
  ...executor(db),
  transaction: <T>(fn: (tx: SqlExecutor) => Promise<T>) => db.transaction((tx) => fn(executor(tx))),
  exec: async (script) => {
    await db.exec(script);
  },
  close: () => db.close(),
});
