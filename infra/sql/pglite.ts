/** The SQL port over PGlite (embedded PostgreSQL in WASM, in process). */
import type { PGlite, Transaction } from '@electric-sql/pglite';
import type { SqlDatabase, SqlExecutor } from './port.ts';

const executor = (db: PGlite | Transaction): SqlExecutor => ({
  query: async <Row>(text: string, params: unknown[] = []) => (await db.query<Row>(text, params)).rows,
});

export const pgliteDatabase = (db: PGlite): SqlDatabase => ({
  kind: 'pglite',
  ...executor(db),
  transaction: <T>(fn: (tx: SqlExecutor) => Promise<T>) => db.transaction((tx) => fn(executor(tx))),
  exec: async (script) => {
    await db.exec(script);
  },
  close: () => db.close(),
});
