/**
 * kill -9 of nats-server in the middle of a load, then a restart: JetStream acknowledges before it syncs,
 * so it may come back with less than it acknowledged. The relay must refill it from the event store, and
 * the consumer must still apply every event exactly once. Runs alone (a *.serial.test.ts file).
 */
import { execFileSync, execSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import postgres from 'postgres';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRuntime } from '../../app/compose.ts';
import { loadConfig } from '../../app/config.ts';
import { DATABASE_URL, dropNamespace, NATS_URL, requireService, uniqueName } from '../support/services.ts';

const natsPid = () => {
  try {
    return execFileSync('pidof', ['nats-server']).toString().trim().split(/\s+/)[0] ?? '';
  } catch {
    return '';
  }
};
const local = (await requireService('pgvector')) && (await requireService('nats')) && natsPid() !== '';
if (!local) console.warn('\n!!! SKIPPED: nats-restart needs a local nats-server process it may kill !!!\n');
const it = local ? test : test.skip;

const restartNats = () =>
  execSync(
    'start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log',
  );

it('a NATS crash mid-load loses no event and duplicates no effect', async () => {
  const schema = uniqueName('natskill');
  const namespace = `k${Math.random().toString(36).slice(2, 10)}`;
  const total = 3000;
  const runtime = await createRuntime(
    loadConfig({
      DATABASE_URL,
      NATS_URL,
      AGENTCORE_PG_SCHEMA: schema,
      AGENTCORE_NAMESPACE: namespace,
    }),
    {
      log: pino({ level: 'silent' }),
      projections: [],
      sagas: [
        {
          durable: 'effects',
          maxAckPending: 64,
          apply: async (event, tx) =>
            void (await tx.query('INSERT INTO nk_effects (event_id) VALUES ($1)', [event.id])),
        },
      ],
    },
  );
  const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {}, connection: { search_path: schema } });
  try {
    await sql`CREATE TABLE nk_effects (event_id text NOT NULL)`;
    await runtime.start(['relay', 'sagas']);
    let appended = 0;
    const load = (async () => {
      while (appended < total) {
        const batch = Array.from({ length: 10 }, () => ({
          id: randomUUID(),
          type: 'LoadApplied',
          data: { n: appended },
          metadata: { tenant: 'load', principal: 'test', correlationId: 'c', causationId: null },
        }));
        await runtime.store.append(`load-${randomUUID()}`, batch);
        appended += batch.length;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    while (appended < total / 3) await new Promise((r) => setTimeout(r, 10));
    execFileSync('kill', ['-9', natsPid()]);
    await new Promise((r) => setTimeout(r, 500));
    restartNats();
    await load;
    let effects = { n: 0, ids: 0 };
    for (let i = 0; i < 600; i++) {
      [effects] =
        (await sql`SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS ids FROM nk_effects`) as unknown as [
          typeof effects,
        ];
      if (effects.ids >= total) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.is(effects.ids, total, 'every event reached the consumer after the NATS crash');
    assert.is(effects.n, total, 'no effect applied twice');
  } finally {
    if (!natsPid()) restartNats();
    await runtime.stop();
    await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await sql.end();
    await dropNamespace(namespace);
  }
});

test.run();
