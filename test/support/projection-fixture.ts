/** An event store and a read-model database for projection tests: PGlite in process, or a PostgreSQL schema of its own. */
import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import { createPgliteEventStore } from '../../infra/event-store/pglite.ts';
import type { EventStore } from '../../infra/event-store/port.ts';
import { createPostgresEventStore } from '../../infra/event-store/postgres.ts';
import { pgliteDatabase } from '../../infra/sql/pglite.ts';
import type { SqlDatabase } from '../../infra/sql/port.ts';
import { postgresDatabase } from '../../infra/sql/postgres.ts';
import { DATABASE_URL, uniqueName } from './services.ts';

export interface ProjectionFixture {
  store: EventStore;
  db: SqlDatabase;
  cleanup(): Promise<void>;
}

export const pgliteFixture = async (): Promise<ProjectionFixture> => {
  const pglite = await PGlite.create();
  const store = await createPgliteEventStore({ db: pglite });
  return { store, db: pgliteDatabase(pglite), cleanup: async () => pglite.close() };
};

/** A schema named after `prefix`, dropped by cleanup(). */
export const postgresFixture = async (prefix: string): Promise<ProjectionFixture> => {
  const schema = uniqueName(prefix);
  const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE SCHEMA ${schema}`);
  const sql = postgres(DATABASE_URL, { max: 4, onnotice: () => {}, connection: { search_path: schema } });
  const store = await createPostgresEventStore({ sql, schema });
  return {
    store,
    db: postgresDatabase(sql),
    cleanup: async () => {
      await store.close();
      await sql.end();
      await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    },
  };
};
