/** The event-store contract on PGlite in a worker thread (the embedded hub's store), as on PGlite in process. */
import { createPgliteEventStore } from '../../infra/event-store/pglite.ts';
import { quoteIdent } from '../../infra/event-store/sql.ts';
import type { EmbeddedPostgres } from '../../infra/sql/pglite.ts';
import { startPgliteThread } from '../../infra/sql/pglite-thread.ts';
import { uniqueName } from '../support/services.ts';
import { eventStoreContract } from './event-store.contract.ts';

// One thread for the file (start-up takes seconds); one schema per test.
let db: EmbeddedPostgres | null = null;

const contract = eventStoreContract('pglite thread', async () => {
  db ??= await startPgliteThread({ vector: false });
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
