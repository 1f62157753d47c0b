/**
 * PGlite in a worker thread (infra/sql/pglite-thread.ts) behaves as PGlite in process: rows and their types,
 * errors with their fields, transactions that commit or roll back, LISTEN/NOTIFY, and a clear error once
 * closed. And it does its work beside the event loop: a long statement leaves timers running.
 */
import { performance } from 'node:perf_hooks';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { EmbeddedPostgres } from '../../infra/sql/pglite.ts';
import { startPgliteThread } from '../../infra/sql/pglite-thread.ts';

let db: EmbeddedPostgres;
test.before(async () => {
  db = await startPgliteThread();
});
test.after(async () => {
  await db.close();
});

test('rows keep their types: numbers, timestamps, jsonb, bytea, vectors', async () => {
  await db.exec('CREATE EXTENSION IF NOT EXISTS vector');
  const [row] = (
    await db.query<{ n: number; t: Date; j: { a: number[] }; b: Uint8Array; v: string }>(
      "SELECT 1 AS n, '2026-12-07T10:00:00.000Z'::timestamptz AS t, $1::jsonb AS j, $2::bytea AS b, '[1,2]'::vector AS v",
      [{ a: [1, 2] }, new Uint8Array([7, 8])],
    )
  ).rows;
  assert.is(row!.n, 1);
  assert.instance(row!.t, Date);
  assert.is(row!.t.toISOString(), '2026-12-07T10:00:00.000Z');
  assert.equal(row!.j, { a: [1, 2] });
  assert.equal([...row!.b], [7, 8]);
  assert.is(row!.v, '[1,2]');
});

test('an error keeps its SQLSTATE and fields, as callers test them', async () => {
  await db.exec('CREATE TABLE thread_t (id int PRIMARY KEY)');
  await db.query('INSERT INTO thread_t VALUES (1)');
  try {
    await db.query('INSERT INTO thread_t VALUES (1)');
    assert.unreachable('a duplicate key must fail');
  } catch (error) {
    const e = error as Error & { code?: string; constraint?: string };
    assert.instance(e, Error);
    assert.is(e.code, '23505');
    assert.is(e.constraint, 'thread_t_pkey');
    assert.match(e.message, /duplicate key/);
  }
});

test('a transaction commits when its function resolves and rolls back when it throws', async () => {
  await db.exec('CREATE TABLE thread_tx (id int PRIMARY KEY)');
  const got = await db.transaction(async (tx) => {
    await tx.query('INSERT INTO thread_tx VALUES (1)');
    return (await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM thread_tx')).rows[0]!.n;
  });
  assert.is(got, 1);
  const failed = await db
    .transaction(async (tx) => {
      await tx.query('INSERT INTO thread_tx VALUES (2)');
      throw new Error('changed my mind');
    })
    .catch((e: Error) => e.message);
  assert.is(failed, 'changed my mind');
  // A failing statement inside aborts the transaction, and the error is the statement's.
  const code = await db
    .transaction(async (tx) => {
      await tx.query('INSERT INTO thread_tx VALUES (3)');
      await tx.query('INSERT INTO thread_tx VALUES (1)');
    })
    .catch((e: { code?: string }) => e.code);
  assert.is(code, '23505');
  const ids = (await db.query<{ id: number }>('SELECT id FROM thread_tx ORDER BY id')).rows.map((r) => r.id);
  assert.equal(ids, [1]);
});

test('statements outside a transaction wait for it to end, as in process', async () => {
  await db.exec('CREATE TABLE thread_wait (id int)');
  let inside!: () => void;
  const held = new Promise<void>((r) => (inside = r));
  const tx = db.transaction(async (t) => {
    await t.query('INSERT INTO thread_wait VALUES (1)');
    await held;
  });
  const outside = db.query<{ n: number }>('SELECT count(*)::int AS n FROM thread_wait');
  await new Promise((r) => setTimeout(r, 50));
  inside();
  await tx;
  assert.is((await outside).rows[0]!.n, 1);
});

test('LISTEN/NOTIFY reaches the listener until it stops listening', async () => {
  const heard: string[] = [];
  const stop = await db.listen('thread_ch', (p) => heard.push(p));
  await db.query("NOTIFY thread_ch, 'one'");
  await new Promise((r) => setTimeout(r, 50));
  await stop();
  await db.query("NOTIFY thread_ch, 'two'");
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(heard, ['one']);
});

test('a long statement runs beside the event loop: timers keep firing', async () => {
  let ticks = 0;
  let worst = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
    ticks++;
  }, 5);
  const started = performance.now();
  await db.query('SELECT count(*) FROM generate_series(1, 3000000)');
  const took = performance.now() - started;
  clearInterval(timer);
  console.log(
    `  3M-row count: ${took.toFixed(0)} ms in the thread, ${ticks} ticks, worst gap ${worst.toFixed(0)} ms`,
  );
  // In process the loop would be held for the whole statement (one tick, a gap as long as the query).
  assert.ok(took > 100, `the statement should take a while (${took.toFixed(0)} ms)`);
  assert.ok(worst < took / 2, `the loop was held ${worst.toFixed(0)} ms of ${took.toFixed(0)} ms`);
});

test('once closed, a call fails with a clear error instead of hanging', async () => {
  const other = await startPgliteThread({ vector: false });
  await other.close();
  assert.ok(other.closed);
  const message = await other.query('SELECT 1').then(
    () => 'answered',
    (e: Error) => e.message,
  );
  assert.match(message, /PGlite thread has stopped/);
});

test.run();
