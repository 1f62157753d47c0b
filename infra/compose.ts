import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pino, { type Logger } from 'pino';
import postgres from 'postgres';
import { edgeApp, listen } from '../a2a-edge/server.ts';
import { bootstrapDefaultTenant } from '../commands/bootstrap.ts';
import type { Projection } from '../projections/projection.ts';
import { migrateProjection, runProjections } from '../projections/runner.ts';
import { tenantsProjection } from '../projections/tenants.ts';
import { exactlyOnce, PROCESSED_EVENTS_DDL, type TransactionalConsumer } from '../sagas/exactly-once.ts';
import { createInProcessBus } from './bus/in-process.ts';
import { createJetStreamBus } from './bus/jetstream.ts';
import type { Bus, Consumer } from './bus/port.ts';
import type { Config, Role } from './config.ts';
import { createEventStoreDbStore } from './event-store/eventstoredb.ts';
import { createPgliteEventStore } from './event-store/pglite.ts';
import type { EventStore } from './event-store/port.ts';
import { createPostgresEventStore } from './event-store/postgres.ts';
import { type LeaderLock, postgresLeaderLock, soleLeader } from './leader.ts';
import { observeAppends } from './observe.ts';
import { runRelay } from './relay.ts';
import { pgliteDatabase } from './sql/pglite.ts';
import type { SqlDatabase } from './sql/port.ts';
import { postgresDatabase } from './sql/postgres.ts';

/** What a role needs; every adapter behind its port, chosen here and nowhere else. */
export interface Runtime {
  config: Config;
  log: Logger;
  store: EventStore;
  bus: Bus;
  /** The read-model database (and, embedded, the event store's too). */
  db: SqlDatabase;
  projections: Projection[];
  /** Bus consumers with database effects, run by the `sagas` role. */
  sagas: TransactionalConsumer[];
  /** Bus consumers that run agents, run by the `workers` role. */
  workers: TransactionalConsumer[];
  start(roles: Role[]): Promise<{ url?: string; devApiKey?: string | null }>;
  /** True while this process's relay role holds the leadership and publishes. */
  relayLeading(): boolean;
  /** Graceful: stops taking work, drains what is in flight, then closes connections. */
  stop(): Promise<void>;
}

export interface RuntimeOverrides {
  log?: Logger;
  projections?: Projection[];
  sagas?: TransactionalConsumer[];
  workers?: TransactionalConsumer[];
}

const BUS_DURABLES_DDL = `CREATE TABLE IF NOT EXISTS bus_durables (name text PRIMARY KEY, position bigint NOT NULL)`;

export const createRuntime = async (config: Config, overrides: RuntimeOverrides = {}): Promise<Runtime> => {
  const log = overrides.log ?? pino({ level: config.logLevel, base: { mode: config.mode } });
  let db: SqlDatabase;
  let baseStore: EventStore;
  let bus: Bus;
  let leader: LeaderLock = soleLeader;
  let sql: postgres.Sql | null = null;

  if (config.mode === 'embedded') {
    const dir = resolve(config.dataDir, 'pglite');
    mkdirSync(dir, { recursive: true });
    const pglite = await PGlite.create(dir);
    db = pgliteDatabase(pglite);
    baseStore = await createPgliteEventStore({ db: pglite });
    await db.exec(BUS_DURABLES_DDL);
    bus = createInProcessBus({
      durableState: {
        load: async () =>
          Object.fromEntries(
            (
              await db.query<{ name: string; position: string }>('SELECT name, position FROM bus_durables')
            ).map((r) => [r.name, Number(r.position)]),
          ),
        save: async (name, position) => {
          await db.query(
            'INSERT INTO bus_durables (name, position) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET position = $2',
            [name, position],
          );
        },
      },
    });
  } else {
    if (config.pgSchema !== 'public') {
      const admin = postgres(config.databaseUrl!, { max: 1, onnotice: () => {} });
      await admin.unsafe(`CREATE SCHEMA IF NOT EXISTS ${config.pgSchema}`);
      await admin.end();
    }
    sql = postgres(config.databaseUrl!, {
      max: 20,
      onnotice: () => {},
      connection: { search_path: config.pgSchema },
    });
    db = postgresDatabase(sql);
    baseStore = config.eventStoreUrl
      ? await createEventStoreDbStore({ connectionString: config.eventStoreUrl })
      : await createPostgresEventStore({ sql, schema: config.pgSchema });
    bus = await createJetStreamBus({ servers: config.natsUrl!, namespace: config.namespace });
    leader = postgresLeaderLock(sql, `${config.pgSchema}:${config.namespace}:relay`);
  }
  await db.exec(PROCESSED_EVENTS_DDL);
  const { store, appended$ } = observeAppends(baseStore);
  const projections = overrides.projections ?? [tenantsProjection];
  const sagas = overrides.sagas ?? [];
  const workers = overrides.workers ?? [];

  const stops: Array<() => Promise<void>> = [];
  let leading = false;
  const abort = new AbortController();

  const runtime: Runtime = {
    config,
    log,
    store,
    bus,
    db,
    projections,
    sagas,
    workers,
    async start(roles) {
      const result: { url?: string; devApiKey?: string | null } = {};
      if (roles.includes('projections')) {
        for (const p of projections) await migrateProjection(db, p);
        const running = runProjections(db, store, projections, {
          wake: appended$,
          pollMs: config.mode === 'embedded' ? 1000 : 50,
          onError: (err, projection) => log.error({ err, projection }, 'projection batch failed; will retry'),
        });
        stops.unshift(() => running.stop());
      }
      if (roles.includes('relay')) {
        // Copies of the relay wait as standbys; only the lock holder publishes.
        const relayLoop = (async () => {
          while (!abort.signal.aborted) {
            let lease: Awaited<ReturnType<LeaderLock['acquire']>>;
            try {
              lease = await leader.acquire(abort.signal);
            } catch {
              return;
            }
            log.info('relay: this process leads');
            leading = true;
            const relay = runRelay(store, bus, { log });
            const stopRelay = new Promise<void>((r) =>
              abort.signal.addEventListener('abort', () => r(), { once: true }),
            );
            await Promise.race([lease.lost, stopRelay]);
            await relay.stop();
            leading = false;
            await lease.release();
          }
        })();
        stops.push(async () => {
          abort.abort();
          await relayLoop;
        });
      }
      const consumers: Consumer[] = [];
      const consumerDefs = [
        ...(roles.includes('sagas') ? sagas : []),
        ...(roles.includes('workers') ? workers : []),
      ];
      for (const def of consumerDefs) consumers.push(await bus.consume(exactlyOnce(db, def)));
      if (consumers.length)
        stops.unshift(async () => void (await Promise.all(consumers.map((c) => c.stop()))));
      if (roles.includes('edge')) {
        if (config.mode === 'embedded') result.devApiKey = await bootstrapDefaultTenant(store);
        const app = edgeApp([
          {
            name: 'event-store',
            check: async () => void (await store.readStream('healthcheck', { maxCount: 1 })),
          },
          { name: 'read-models', check: async () => void (await db.query('SELECT 1')) },
          { name: 'bus', check: async () => void (await bus.lastPublishedPosition()) },
        ]);
        const server = await listen(app, config.host, config.port);
        result.url = server.url;
        stops.unshift(() => server.close());
      }
      return result;
    },
    relayLeading: () => leading,
    async stop() {
      abort.abort();
      for (const stop of stops.splice(0)) await stop();
      await bus.close();
      await baseStore.close();
      await db.close();
    },
  };
  return runtime;
};
