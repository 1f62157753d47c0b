/**
 * Processes of a deployment start together on a fresh database: their start-up schema changes must not
 * collide (CREATE ... IF NOT EXISTS racing its twin fails in PostgreSQL), and only one of them issues the
 * development key.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import postgres from 'postgres';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createRuntime, type Runtime } from '../../app/compose.ts';
import { loadConfig } from '../../app/config.ts';
import { DATABASE_URL, dropNamespace, NATS_URL, requireService, uniqueName } from '../support/services.ts';

const s = suite('distributed start-up');
const available = (await requireService('pgvector')) && (await requireService('nats'));

s('five processes starting at once on a fresh schema all start; one dev key is issued', async () => {
  if (!available) return;
  const schema = uniqueName('startup');
  const namespace = `s${Math.random().toString(36).slice(2, 10)}`;
  const config = loadConfig({
    DATABASE_URL,
    NATS_URL,
    AGENTCORE_PG_SCHEMA: schema,
    AGENTCORE_NAMESPACE: namespace,
    PORT: '0',
  });
  const runtimes: Runtime[] = [];
  try {
    const started = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const runtime = await createRuntime(config, { log: pino({ level: 'silent' }) });
        runtimes.push(runtime);
        return runtime.start(['edge', 'sagas', 'workers', 'projections', 'relay']);
      }),
    );
    assert.is(started.filter((r) => r.url).length, 5, 'every process serves');
    assert.is(started.filter((r) => r.devApiKey).length, 1, 'one dev key, from whichever came first');
  } finally {
    const stopped = Promise.allSettled(runtimes.map((r) => r.stop()));
    assert.ok(await Promise.race([stopped.then(() => true), sleep(20_000).then(() => false)]), 'all stop');
    const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
    await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await sql.end();
    await dropNamespace(namespace);
  }
});

s.run();
