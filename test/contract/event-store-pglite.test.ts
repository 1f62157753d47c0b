import { PGlite } from '@electric-sql/pglite';
import { createPgliteEventStore } from '../../infra/event-store/pglite.ts';
import { quoteIdent } from '../../infra/event-store/sql.ts';
import { uniqueName } from '../support/services.ts';
import { eventStoreContract } from './event-store.contract.ts';

// One in-process database for the file (start-up takes seconds); one schema per test.
let db: PGlite | null = null;

const contract = eventStoreContract('pglite', async () => {
  db ??= await PGlite.create();
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
