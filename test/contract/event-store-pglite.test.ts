/** The event-store contract on PGlite: in process, and in a worker thread (the embedded hub's store). */
import { PGlite } from '@electric-sql/pglite';
import { createPgliteEventStore } from '../../infra/event-store/pglite.ts';
import { quoteIdent } from '../../infra/event-store/sql.ts';
import type { EmbeddedPostgres } from '../../infra/sql/pglite.ts';
import { startPgliteThread } from '../../infra/sql/pglite-thread.ts';
import { uniqueName } from '../support/services.ts';
import { eventStoreContract } from './event-store.contract.ts';

const databases: Array<[string, () => Promise<EmbeddedPostgres>]> = [
  ['pglite', () => PGlite.create()],
  ['pglite thread', () => startPgliteThread({ vector: false })],
];

for (const [name, open] of databases) {
  // One database per variant (start-up takes seconds); one schema per test.
  let db: EmbeddedPostgres | null = null;
  const contract = eventStoreContract(name, async () => {
    db ??= await open();
    const pglite = db;
    const schema = uniqueName('es');
    const store = await createPgliteEventStore({ db: pglite, schema });
    return {
      store,
      cleanup: async () => {
        await pglite.exec(`DROP SCHEMA ${quoteIdent(schema)} CASCADE`);
      },
    };
  });
  contract.after(async () => {
    await db?.close();
  });
  contract.run();
}
