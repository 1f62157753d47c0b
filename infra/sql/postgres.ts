/** The SQL port over postgres.js (a PostgreSQL server), and one-at-a-time start-up migrations. */
import type postgres from 'postgres';
import type { SqlDatabase, SqlExecutor } from './port.ts';

type Param = postgres.ParameterOrJSON<never>;

const executor = (sql: postgres.Sql | postgres.TransactionSql): SqlExecutor => ({
  query: async <Row>(text: string, params: unknown[] = []) =>
    (await sql.unsafe(text, params as Param[])) as unknown as Row[],
});

export const postgresDatabase = (sql: postgres.Sql): SqlDatabase => ({
  kind: 'postgres',
  ...executor(sql),
  transaction: async <T>(fn: (tx: SqlExecutor) => Promise<T>) =>
    (await sql.begin((tx) => fn(executor(tx)))) as T,
  exec: async (script) => {
    await sql.unsafe(script);
  },
  close: () => sql.end({ timeout: 5 }),
});

/**
 * Runs start-up schema changes one process at a time, database-wide: CREATE ... IF NOT EXISTS is not safe
 * against a twin running at the same moment (both insert the same catalog row and one fails with
 * "duplicate key value violates unique constraint"), and processes of a deployment start together.
 */
export const oneMigratorAtATime =
  (sql: postgres.Sql) =>
  async <T>(fn: () => Promise<T>): Promise<T> => {
    const conn = await sql.reserve();
    try {
      await conn`SELECT pg_advisory_lock(hashtext('agentcore:schema-changes'))`;
      return await fn();
    } finally {
      await conn`SELECT pg_advisory_unlock(hashtext('agentcore:schema-changes'))`.catch(() => {});
      conn.release();
    }
  };
