import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { hashApiKey } from '../../commands/bootstrap.ts';
import { handle } from '../../commands/handle.ts';
import { tenantDecider } from '../../commands/tenant.ts';
import { tenantStream } from '../../events/tenant.ts';
import { createPgliteEventStore } from '../../infra/event-store/pglite.ts';
import type { EventStore } from '../../infra/event-store/port.ts';
import { createPostgresEventStore } from '../../infra/event-store/postgres.ts';
import { pgliteDatabase } from '../../infra/sql/pglite.ts';
import type { SqlDatabase } from '../../infra/sql/port.ts';
import { postgresDatabase } from '../../infra/sql/postgres.ts';
import { catchUp, migrateProjection, rebuild, runProjections } from '../../projections/runner.ts';
import { tenantsProjection } from '../../projections/tenants.ts';
import { DATABASE_URL, requireService, uniqueName } from '../support/services.ts';
import { visibleInLog } from '../support/wait.ts';

interface Fixture {
  store: EventStore;
  db: SqlDatabase;
  /** A second connection pool to the same database, for a second copy of the projection. */
  second?: SqlDatabase;
  cleanup(): Promise<void>;
}

const workload = async (store: EventStore, tenants: number) => {
  for (let i = 0; i < tenants; i++) {
    const stream = tenantStream(`p${i}`);
    const ctx = { tenant: `p${i}`, principal: 'test' };
    await handle(
      store,
      stream,
      { type: 'RegisterTenant', tenantId: `p${i}`, name: `P${i}` },
      tenantDecider,
      ctx,
    );
    for (let k = 0; k < 4; k++) {
      const keyHash = hashApiKey(`${i}-${k}`);
      await handle(
        store,
        stream,
        { type: 'IssueApiKey', keyId: `k${k}`, keyHash, label: '', actsFor: [] },
        tenantDecider,
        ctx,
      );
    }
    await handle(store, stream, { type: 'RevokeApiKey', keyId: 'k0' }, tenantDecider, ctx);
    if (i % 3 === 0)
      await handle(store, stream, { type: 'RenameTenant', name: `Renamed ${i}` }, tenantDecider, ctx);
  }
};

const visible = (store: EventStore, count: number) => visibleInLog(store, 'tenant-', count);

const dump = async (db: SqlDatabase) => ({
  tenants: await db.query('SELECT id, name, active_keys, last_position FROM rm_tenants ORDER BY id'),
  keys: await db.query(
    'SELECT key_hash, key_id, tenant, label, acts_for, revoked FROM rm_api_keys ORDER BY key_hash',
  ),
});

const projectionSuite = (name: string, available: boolean, make: () => Promise<Fixture>) => {
  const s = suite(`projections on ${name}`);
  if (!available) {
    s.skip('projection tests (service unreachable)', () => {});
    return s.run();
  }
  let f: Fixture;
  s.before.each(async () => {
    f = await make();
    await migrateProjection(f.db, tenantsProjection);
  });
  s.after.each(async () => f.cleanup());

  s('the live read model follows the log and equals a rebuild', async () => {
    const running = runProjections(f.db, f.store, [tenantsProjection], { pollMs: 20 });
    await workload(f.store, 12);
    await visible(f.store, 12 * 6 + 4);
    const [last] = await f.store
      .readAll({ filter: { streamPrefix: 'tenant-' }, maxCount: 10_000 })
      .then((e) => e.slice(-1));
    for (let i = 0; i < 200; i++) {
      const [row] = await f.db.query<{ position: string }>(
        "SELECT position FROM projection_checkpoints WHERE name = 'tenants'",
      );
      if (Number(row?.position) === last!.position) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    await running.stop();
    const live = await dump(f.db);
    assert.is(live.tenants.length, 12);
    assert.ok(live.tenants.every((t) => Number(t.active_keys) === 3));
    assert.is(live.keys.filter((k) => k.revoked).length, 12);
    assert.is(await rebuild(f.db, f.store, tenantsProjection), 12 * 6 + 4);
    assert.equal(await dump(f.db), live);
  });

  s('catching up twice applies nothing twice', async () => {
    await workload(f.store, 3);
    await visible(f.store, 3 * 6 + 1);
    assert.is(await catchUp(f.db, f.store, tenantsProjection), 3 * 6 + 1);
    assert.is(await catchUp(f.db, f.store, tenantsProjection), 0);
    const { tenants } = await dump(f.db);
    assert.equal(
      tenants.map((t) => Number(t.active_keys)),
      [3, 3, 3],
    );
  });

  if (name === 'PostgreSQL') {
    s('two copies of the projection on one database never apply an event twice', async () => {
      await workload(f.store, 10);
      await visible(f.store, 10 * 6 + 4);
      await migrateProjection(f.second!, tenantsProjection);
      const [a, b] = await Promise.all([
        catchUp(f.db, f.store, tenantsProjection),
        catchUp(f.second!, f.store, tenantsProjection),
      ]);
      assert.is(a + b, 10 * 6 + 4, 'the batches were split, not repeated');
      const { tenants } = await dump(f.db);
      assert.ok(tenants.every((t) => Number(t.active_keys) === 3));
    });
  }
  s.run();
};

// Every await happens before the first suite runs: uvu starts a suite's run at once.
const pgUp = await requireService('postgres');

projectionSuite('PGlite', true, async () => {
  const pglite = await PGlite.create();
  const store = await createPgliteEventStore({ db: pglite });
  return { store, db: pgliteDatabase(pglite), cleanup: async () => pglite.close() };
});

projectionSuite('PostgreSQL', pgUp, async () => {
  const schema = uniqueName('proj');
  const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE SCHEMA ${schema}`);
  const connect = () =>
    postgres(DATABASE_URL, { max: 4, onnotice: () => {}, connection: { search_path: schema } });
  const sql = connect();
  const sql2 = connect();
  const store = await createPostgresEventStore({ sql, schema });
  return {
    store,
    db: postgresDatabase(sql),
    second: postgresDatabase(sql2),
    cleanup: async () => {
      await store.close();
      await sql.end();
      await sql2.end();
      await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    },
  };
});
