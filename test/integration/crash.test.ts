/**
 * Kill -9 a process that appends, relays, projects and consumes, 20 times during a 10,000-event load on
 * real PostgreSQL + JetStream. Afterwards: JetStream delivered every event at least once, the consumer's
 * effects were applied exactly once, and the projection equals a rebuild from the log.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import pino from 'pino';
import postgres from 'postgres';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRuntime } from '../../app/compose.ts';
import { loadConfig } from '../../app/config.ts';
import { rebuild } from '../../projections/runner.ts';
import { tenantsProjection } from '../../projections/tenants.ts';
import { DATABASE_URL, dropNamespace, NATS_URL, requireService, uniqueName } from '../support/services.ts';

const up = (await requireService('pgvector')) && (await requireService('nats'));
const it = up ? test : test.skip;

const KILLS = 20;
const TENANTS = 500;
const TOTAL = TENANTS * 20;
const schema = uniqueName('crash');
const namespace = `c${Math.random().toString(36).slice(2, 10)}`;
const env = {
  ...process.env,
  DATABASE_URL,
  NATS_URL,
  AGENTCORE_PG_SCHEMA: schema,
  AGENTCORE_NAMESPACE: namespace,
  CRASH_TENANTS: String(TENANTS),
  LOG_LEVEL: 'warn',
};
const childPath = new URL('./crash-child.ts', import.meta.url).pathname;

const startChild = () => {
  const child = spawn(process.execPath, ['--import', 'tsx', childPath], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const seen = (word: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => out.includes(`${word}\n`) && resolve();
      child.stdout!.on('data', (d) => {
        out += d;
        check();
      });
      child.once('exit', (code) =>
        out.includes(`${word}\n`)
          ? resolve()
          : reject(new Error(`child exited ${code} before "${word}": ${out}`)),
      );
      check();
    });
  child.stderr!.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, seen, exited, output: () => out };
};

const kill = async (child: ChildProcess, exited: Promise<unknown>) => {
  child.kill('SIGKILL');
  await exited;
};

it('SIGKILL x20 during a 10,000-event load loses nothing and applies every effect once', async () => {
  let kills = 0;
  let settledEarly = false;
  while (kills < KILLS) {
    const run = startChild();
    await run.seen('ready');
    const lifetime = 150 + Math.random() * 600;
    const outcome = await Promise.race([
      new Promise((r) => setTimeout(() => r('kill'), lifetime)),
      run.exited.then(() => 'exited'),
    ]);
    if (outcome === 'exited') {
      settledEarly = true;
      assert.ok(run.output().includes('settled'), `child failed: ${run.output()}`);
      break;
    }
    await kill(run.child, run.exited);
    kills++;
  }
  assert.is(settledEarly, false, `the load finished after only ${kills} kills: make it longer`);
  const last = startChild();
  const code = await last.exited;
  assert.is(code, 0, `final run failed: ${last.output()}`);

  const sql = postgres(DATABASE_URL, { max: 2, onnotice: () => {}, connection: { search_path: schema } });
  try {
    const [stored] = await sql`SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM events`;
    assert.is(stored!.n, TOTAL, 'every command appended its event exactly once');
    assert.is(stored!.ids, TOTAL);
    const gaps = await sql`SELECT stream FROM events GROUP BY stream HAVING max(revision) + 1 <> count(*)`;
    assert.is(gaps.length, 0, 'no stream has a gap');

    const [effects] =
      await sql`SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS ids FROM crash_effects`;
    assert.is(effects!.ids, TOTAL, 'every event had its effect');
    assert.is(effects!.n, TOTAL, 'no effect was applied twice');

    const runtime = await createRuntime(loadConfig(env), { log: pino({ level: 'warn' }) });
    try {
      const ids = new Set((await sql`SELECT id::text FROM events`).map((r) => r.id as string));
      const delivered = new Set<string>();
      const done = new Promise<void>((resolve) => {
        const consumer = runtime.bus.consume({
          durable: 'crash-verify',
          maxAckPending: 1000,
          handler: async ({ event }) => {
            delivered.add(event.id);
            if (delivered.size >= ids.size) resolve();
          },
        });
        setTimeout(resolve, 60_000).unref();
        void consumer;
      });
      await done;
      const missing = [...ids].filter((id) => !delivered.has(id));
      assert.is(missing.length, 0, `JetStream holds every event (missing ${missing.length})`);

      const dump = async () => ({
        tenants: await sql`SELECT * FROM rm_tenants ORDER BY id`,
        keys: await sql`SELECT * FROM rm_api_keys ORDER BY key_hash, tenant`,
      });
      const live = await dump();
      assert.is(live.tenants.length, TENANTS);
      assert.ok(live.tenants.every((t) => t.active_keys === 9));
      await rebuild(runtime.db, runtime.store, tenantsProjection);
      assert.equal(await dump(), live, 'the live read model equals a rebuild from the log');
    } finally {
      await runtime.stop();
    }
  } finally {
    await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await sql.end();
    await dropNamespace(namespace);
  }
});

test.run();
