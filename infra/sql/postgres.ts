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
