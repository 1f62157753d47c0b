/** The idempotency-store contract against every adapter: PGlite, PostgreSQL and Redis. */
import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import { redisIdempotencyStore } from '../../infra/idempotency/redis.ts';
import { sqlIdempotencyStore } from '../../infra/idempotency/sql.ts';
import { pgliteDatabase } from '../../infra/sql/pglite.ts';
import { postgresDatabase } from '../../infra/sql/postgres.ts';
import { DATABASE_URL, REDIS_URL, requireService, uniqueName } from '../support/services.ts';
import { idempotencyContract } from './idempotency.contract.ts';

// Decided before any suite is queued: uvu starts running queued suites on the next tick, and a suite
// queued after that runs the queue again, so every await comes first.
const postgresUp = await requireService('postgres');
const redisUp = await requireService('redis');

idempotencyContract('PGlite', async () => {
  const pglite = new PGlite();
  return { store: await sqlIdempotencyStore(pgliteDatabase(pglite)), cleanup: () => pglite.close() };
}).run();

if (postgresUp) {
  idempotencyContract('PostgreSQL', async () => {
    const schema = uniqueName('idem');
    const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE SCHEMA ${schema}`);
    const sql = postgres(DATABASE_URL, { max: 4, onnotice: () => {}, connection: { search_path: schema } });
    return {
      store: await sqlIdempotencyStore(postgresDatabase(sql)),
      cleanup: async () => {
        await sql.end();
        await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`);
        await admin.end();
      },
    };
  }).run();
}

if (redisUp) {
  idempotencyContract('Redis', async () => ({
    store: redisIdempotencyStore(REDIS_URL, uniqueName('idem')),
  })).run();
}
