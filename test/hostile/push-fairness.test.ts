/**
 * The push saga's fairness parts on their own (sagas/push-fairness.ts): the scheduler's per-tenant and
 * total limits and its round-robin between waiting tenants, and the per-endpoint backoff.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FairScheduler } from '../../infra/fair-scheduler.ts';
import { EndpointBackoff } from '../../sagas/push-fairness.ts';

/** A job that runs until released; records when it started. */
const gate = (log: string[], name: string) => {
  let release!: () => void;
  const done = new Promise<void>((r) => {
    release = r;
  });
  const job = () => {
    log.push(name);
    return done;
  };
  return { job, release: () => release() };
};
const tick = () => new Promise((r) => setImmediate(r));

test('a tenant with a long queue takes at most its share; a newcomer starts at once', async () => {
  const started: string[] = [];
  const scheduler = new FairScheduler(2, 3);
  const a = Array.from({ length: 6 }, (_, i) => gate(started, `a${i}`));
  const running = a.map((g) => scheduler.run('a', g.job));
  await tick();
  assert.equal(started, ['a0', 'a1'], 'A runs two (its share), four wait');
  const b = gate(started, 'b0');
  const bDone = scheduler.run('b', b.job);
  await tick();
  assert.equal(started, ['a0', 'a1', 'b0'], 'B starts at once, beside A');
  b.release();
  await bDone;
  a[0]!.release();
  await tick();
  assert.equal(started.slice(3), ['a2'], 'a freed slot of A goes to A’s next');
  for (const g of a) g.release();
  await Promise.all(running);
  assert.equal(started.length, 7);
});

test('tenants waiting for the total take turns (round-robin), each in its own order', async () => {
  const started: string[] = [];
  const scheduler = new FairScheduler(10, 1);
  const first = gate(started, 'x');
  const x = scheduler.run('x', first.job);
  const gates = ['a1', 'a2', 'a3', 'b1', 'b2', 'c1'].map((n) => ({ n, g: gate(started, n) }));
  const all = gates.map(({ n, g }) => scheduler.run(n[0]!, g.job));
  await tick();
  first.release();
  await x;
  for (let i = 0; i < gates.length; i++) {
    await tick();
    const last = started[started.length - 1]!;
    gates.find((g) => g.n === last)!.g.release();
  }
  await Promise.all(all);
  assert.equal(started, ['x', 'a1', 'b1', 'c1', 'a2', 'b2', 'a3']);
});

test('a failing job frees its slot and rejects to its caller only', async () => {
  const scheduler = new FairScheduler(1, 1);
  const failing = scheduler.run('a', async () => {
    throw new Error('boom');
  });
  const next = scheduler.run('a', async () => 'ok');
  const error = await failing.then(
    () => null,
    (e: Error) => e,
  );
  assert.match(error?.message ?? '', /boom/);
  assert.is(await next, 'ok');
});

test('endpoint backoff doubles per failure up to its maximum; a success forgets it', () => {
  let now = 0;
  const backoff = new EndpointBackoff(1000, 5000, () => now);
  assert.is(backoff.remainingMs('t https://x'), 0);
  const waits: number[] = [];
  for (let i = 0; i < 5; i++) {
    backoff.failed('t https://x');
    waits.push(backoff.remainingMs('t https://x'));
  }
  assert.equal(waits, [1000, 2000, 4000, 5000, 5000]);
  assert.is(backoff.remainingMs('u https://x'), 0, 'another tenant’s key is not affected');
  now += 5000;
  assert.is(backoff.remainingMs('t https://x'), 0, 'over once the wait has passed');
  backoff.failed('t https://x');
  assert.is(backoff.remainingMs('t https://x'), 5000, 'failures in a row keep counting');
  backoff.succeeded('t https://x');
  assert.is(backoff.remainingMs('t https://x'), 0);
  backoff.failed('t https://x');
  assert.is(backoff.remainingMs('t https://x'), 1000, 'a success starts afresh');
});

test.run();
