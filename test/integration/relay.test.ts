/**
 * The relay on real PostgreSQL + JetStream: log order preserved, resumption from what JetStream holds,
 * no duplicates within the dedup window, and only one of several relay copies publishing.
 */
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import postgres from 'postgres';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRuntime, type Runtime } from '../../app/compose.ts';
import { loadConfig } from '../../app/config.ts';
import type { NewEvent, RecordedEvent } from '../../events/envelope.ts';
import { runRelay } from '../../infra/relay.ts';
import { DATABASE_URL, dropNamespace, NATS_URL, requireService, uniqueName } from '../support/services.ts';

const up = (await requireService('pgvector')) && (await requireService('nats'));
const it = up ? test : test.skip;
const log = pino({ level: 'warn' });

const schema = uniqueName('relay');
const namespace = `r${Math.random().toString(36).slice(2, 10)}`;
const config = loadConfig({
  DATABASE_URL,
  NATS_URL,
  AGENTCORE_PG_SCHEMA: schema,
  AGENTCORE_NAMESPACE: namespace,
});
const runtimes: Runtime[] = [];
const open = async () => {
  const r = await createRuntime(config, { log, projections: [] });
  runtimes.push(r);
  return r;
};

const events = (n: number): NewEvent[] =>
  Array.from({ length: n }, (_, i) => ({
    id: randomUUID(),
    type: 'RelayProbed',
    data: { i },
    metadata: { tenant: 'relay', principal: 'test', correlationId: 'c', causationId: null },
  }));

/** Readers see an append once every older transaction in the cluster has ended: wait for that. */
const readVisible = async (runtime: Runtime, count: number, streamPrefix?: string) => {
  for (let i = 0; i < 400; i++) {
    const events = await runtime.store.readAll({
      maxCount: 10_000,
      ...(streamPrefix ? { filter: { streamPrefix } } : {}),
    });
    if (events.length >= count) return events;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the log never showed ${count} events`);
};

const collect = async (runtime: Runtime, durable: string, until: (seen: RecordedEvent[]) => boolean) => {
  const seen: RecordedEvent[] = [];
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const consumer = await runtime.bus.consume({
    durable,
    maxAckPending: 1,
    handler: async ({ event }) => {
      seen.push(event);
      if (until(seen)) done();
    },
  });
  await Promise.race([finished, new Promise((r) => setTimeout(r, 20_000).unref())]);
  await consumer.stop();
  return seen;
};

// Relays started by hand are stopped even when an assertion fails first.
const stopLater: Array<() => Promise<void>> = [];

test.after(async () => {
  for (const stop of stopLater.splice(0)) await stop().catch(() => {});
  for (const r of runtimes.splice(0)) await r.stop().catch(() => {});
  if (!up) return;
  const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await sql.end();
  await dropNamespace(namespace);
});

it('publishes the log in order, resumes from what JetStream holds, and never duplicates', async () => {
  const runtime = await open();
  await Promise.all(Array.from({ length: 10 }, (_, w) => runtime.store.append(`probe-${w}`, events(50))));
  const first = runRelay(runtime.store, runtime.bus, { log });
  stopLater.push(() => first.stop());
  const logOrder = await readVisible(runtime, 500);
  assert.is(logOrder.length, 500);
  const seen = await collect(runtime, 'order', (s) => s.length >= 500);
  assert.equal(
    seen.map((e) => e.id),
    logOrder.map((e) => e.id),
    'the bus carries the log in log order',
  );
  await first.stop();
  assert.is(await runtime.bus.lastPublishedPosition(), logOrder[logOrder.length - 1]!.position);

  // More events while no relay runs; a new relay picks up exactly where the bus ends.
  await runtime.store.append('probe-late', events(100));
  const second = runRelay(runtime.store, runtime.bus, { log });
  stopLater.push(() => second.stop());
  const all = await collect(runtime, 'after-resume', (s) => s.length >= 600);
  await new Promise((r) => setTimeout(r, 300));
  await second.stop();
  assert.is(all.length, 600);
  assert.is(new Set(all.map((e) => e.id)).size, 600, 'no event published twice');
});

it('of two relay roles on one database only the leader publishes, and a standby takes over', async () => {
  const a = await open();
  const b = await open();
  await a.start(['relay']);
  await b.start(['relay']);
  const before = await a.bus.lastPublishedPosition();
  await a.store.append('probe-leader', events(200));
  for (let i = 0; i < 100 && (await a.bus.lastPublishedPosition()) === before; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const stored = await readVisible(a, 200, 'probe-leader');
  const seen = await collect(a, 'leader', (s) => s.filter((e) => e.stream === 'probe-leader').length >= 200);
  assert.is(seen.filter((e) => e.stream === 'probe-leader').length, stored.length);

  assert.is(Number(a.relayLeading()) + Number(b.relayLeading()), 1, 'exactly one relay leads');
  // Stop the leader: the standby must take over and publish new events.
  const [leader, standby] = a.relayLeading() ? [a, b] : [b, a];
  await leader.stop();
  runtimes.splice(runtimes.indexOf(leader), 1);
  await standby.store.append('probe-takeover', events(10));
  const later = await collect(
    standby,
    'takeover',
    (s) => s.filter((e) => e.stream === 'probe-takeover').length >= 10,
  );
  assert.ok(standby.relayLeading(), 'the standby leads now');
  assert.is(later.filter((e) => e.stream === 'probe-takeover').length, 10);
});

test.run();
