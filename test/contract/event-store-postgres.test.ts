import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { NewEvent, RecordedEvent } from '../../events/envelope.ts';
import type { EventStore } from '../../infra/event-store/port.ts';
import { createPostgresEventStore } from '../../infra/event-store/postgres.ts';
import { channelFor, quoteIdent } from '../../infra/event-store/sql.ts';
import { DATABASE_URL, requireService, uniqueName } from '../support/services.ts';
import { eventStoreContract } from './event-store.contract.ts';

const up = await requireService('postgres');
const connect = (max: number) => postgres(DATABASE_URL, { max, onnotice: () => {} });
const sql = up ? connect(10) : null;

const contract = eventStoreContract(
  'postgres',
  async () => {
    const schema = uniqueName('es');
    const store = await createPostgresEventStore({ sql: sql!, schema });
    return {
      store,
      cleanup: async () => {
        await sql!.unsafe(`DROP SCHEMA ${quoteIdent(schema)} CASCADE`);
      },
      // a second client with its own connection: concurrent writers really are separate sessions
      connect: async () => {
        const other = connect(2);
        const otherStore = await createPostgresEventStore({ sql: other, schema, migrate: false });
        return {
          store: otherStore,
          close: async () => {
            await otherStore.close();
            await other.end();
          },
        };
      },
    };
  },
  { skip: !up },
);
contract.run();

// PostgreSQL-specific: the gap problem and the wake-ups, with transactions held open on purpose.
const pg = suite('postgres event store: log order with concurrent transactions');
const md = { tenant: 'acme', principal: 'user:alice', correlationId: 'c-1', causationId: null };
const ev = (type: string): NewEvent => ({ id: randomUUID(), type, data: { type }, metadata: md });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Ctx {
  schema: string;
  store: EventStore;
}
const it = (title: string, fn: (c: Ctx) => Promise<void>, pollIntervalMs?: number) => {
  if (!up) return pg.skip(title, () => {});
  pg(title, async () => {
    const schema = uniqueName('esgap');
    const store = await createPostgresEventStore({ sql: sql!, schema, pollIntervalMs });
    try {
      await fn({ schema, store });
    } finally {
      for (const tx of openTransactions) await tx.commit().catch(() => {}); // a failed test must not hang DROP
      openTransactions.length = 0;
      await store.close();
      await sql!.unsafe(`DROP SCHEMA ${quoteIdent(schema)} CASCADE`);
    }
  });
};

const openTransactions: Array<{ commit: () => Promise<void> }> = [];

/** A transaction on its own connection, held open until `commit()`; `run` executes inside it. */
const openTransaction = async () => {
  const conn = connect(1);
  let run!: (text: string, params?: unknown[]) => Promise<Record<string, unknown>[]>;
  let finish!: () => void;
  let finished: Promise<unknown> = Promise.resolve();
  const ready = new Promise<void>((resolveReady) => {
    const done = conn.begin(async (tx) => {
      run = async (text, params = []) =>
        (await tx.unsafe(text, params as postgres.ParameterOrJSON<never>[])) as unknown as Record<
          string,
          unknown
        >[];
      resolveReady();
      await new Promise<void>((r) => {
        finish = r;
      });
    });
    finished = done.finally(() => conn.end());
  });
  await ready;
  const handle = {
    run,
    commit: async () => {
      finish();
      await finished;
    },
  };
  openTransactions.push(handle);
  return handle;
};

/** Appends one event inside `tx` (the store's own SQL function); resolves with its position. */
const appendIn = async (
  tx: { run: (t: string, p?: unknown[]) => Promise<Record<string, unknown>[]> },
  schema: string,
  stream: string,
  e: NewEvent,
): Promise<number> => {
  const [row] = await tx.run(
    `SELECT ${quoteIdent(schema)}.append_events($1, 'any', NULL, $2::text::jsonb)::text AS r`,
    [
      stream,
      JSON.stringify([{ id: e.id, type: e.type, schemaVersion: 1, data: e.data, metadata: e.metadata }]),
    ],
  );
  return (JSON.parse(String(row!.r)) as { positions: number[] }).positions[0]!;
};

const collect = async (store: EventStore, n: number, ms = 5000): Promise<RecordedEvent[]> => {
  const sub = store.subscribeAll();
  const seen: RecordedEvent[] = [];
  const timer = setTimeout(() => sub.close(), ms);
  for await (const e of sub) {
    seen.push(e);
    if (seen.length === n) break;
  }
  clearTimeout(timer);
  await sub.close();
  return seen;
};

it('an event committed later with a smaller position is never skipped', async ({ schema, store }) => {
  const a = ev('A');
  const b = ev('B');
  const tx = await openTransaction();
  const pa = await appendIn(tx, schema, 'gap-a', a); // takes the smaller position, does not commit yet
  const subscriber = collect(store, 2);
  const rb = await store.append('gap-b', [b]); // larger position, committed first
  assert.ok(pa < rb.positions[0]!, 'A holds the smaller position');

  // B is committed, but a reader must not see it yet: checkpointing B would skip A for ever
  assert.equal(await store.readAll(), []);
  await sleep(150);
  assert.equal(await store.readAll(), []);

  await tx.commit();
  let all: RecordedEvent[] = [];
  for (let i = 0; i < 100 && all.length < 2; i++, await sleep(20)) all = await store.readAll();
  assert.equal(
    all.map((e) => e.id),
    [a.id, b.id],
  );
  assert.equal(
    (await subscriber).map((e) => e.id),
    [a.id, b.id],
    'the live subscription saw A, then B',
  );
  assert.equal(
    (await store.readAll({ after: all[0]!.position })).map((e) => e.id),
    [b.id],
  );
});

it('an older transaction that commits after a younger one comes first in the log order', async ({
  schema,
  store,
}) => {
  const a = ev('A');
  const b = ev('B');
  const tx = await openTransaction();
  await tx.run('SELECT pg_current_xact_id()'); // A has the older transaction id
  const rb = await store.append('order-b', [b]);
  await appendIn(tx, schema, 'order-a', a); // but the larger position
  await tx.commit();
  let all: RecordedEvent[] = [];
  for (let i = 0; i < 100 && all.length < 2; i++, await sleep(20)) all = await store.readAll();
  assert.equal(
    all.map((e) => e.id),
    [a.id, b.id],
  );
  assert.ok(all[0]!.position > rb.positions[0]!, 'A is first in the log although its position is larger');
  assert.equal(
    (await store.readAll({ after: all[0]!.position })).map((e) => e.id),
    [b.id],
  );
  assert.equal(
    (await store.readAll({ after: all[1]!.position })).map((e) => e.id),
    [],
  );
  assert.equal(
    (await collect(store, 2)).map((e) => e.id),
    [a.id, b.id],
  );
});

it('an append never lands a stream out of revision order in the log (AC003 makes the caller retry)', async ({
  schema,
  store,
}) => {
  const tx = await openTransaction();
  await tx.run('SELECT pg_current_xact_id()'); // this transaction's id is older than the next append's
  await store.append('ordered-1', [ev('First')]);
  const err = await appendIn(tx, schema, 'ordered-1', ev('Second')).then(
    () => null,
    (e: { code?: string }) => e,
  );
  assert.is(err?.code, 'AC003');
  await tx.commit().catch(() => {}); // the transaction is aborted: this ends it
  await store.append('ordered-1', [ev('Second')]);
  assert.equal(
    (await store.readStream('ordered-1')).map((e) => e.type),
    ['First', 'Second'],
  );
});

it('a readAll `after` a position that is not in the log fails loudly', async ({ store }) => {
  await store.append('x-1', [ev('X')]);
  try {
    await store.readAll({ after: 999_999 });
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.instance(err, RangeError);
  }
});

it('LISTEN/NOTIFY wakes subscriptions for appends made by another process, on one LISTEN connection', async ({
  schema,
  store,
}) => {
  const subs = [store.subscribeAll(), store.subscribeAll(), store.subscribeAll()];
  const firsts = subs.map(async (s) => {
    for await (const e of s) return e;
    return null;
  });
  await sleep(100);
  const [listeners] =
    await sql!`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query ILIKE ${`listen "${channelFor(schema)}"%`}`;
  assert.is(listeners!.n, 1, 'one LISTEN connection for the store');
  const other = connect(1);
  const writer = await createPostgresEventStore({ sql: other, schema, migrate: false });
  const e = ev('FromElsewhere');
  const t0 = Date.now();
  await writer.append('remote-1', [e]);
  const got = await Promise.all(firsts);
  assert.ok(Date.now() - t0 < 2000, 'woken by NOTIFY, not by the 60 s poll');
  assert.equal(
    got.map((x) => x?.id),
    [e.id, e.id, e.id],
  );
  await Promise.all(subs.map((s) => s.close()));
  await writer.close();
  await other.end();
}, 60_000);

const firstEvent = (store: EventStore) => {
  const sub = store.subscribeAll();
  const first = (async () => {
    for await (const e of sub) return e;
    return null;
  })();
  return { sub, first };
};

it('an event held back by an unrelated transaction is delivered soon after it ends, with no notification', async ({
  store,
}) => {
  const { sub, first } = firstEvent(store);
  const blocker = await openTransaction();
  await blocker.run('SELECT pg_current_xact_id()'); // holds the xmin horizon back, appends nothing
  const e = ev('Held');
  await store.append('held-1', [e]); // wakes the subscription, but is not readable yet
  await sleep(300);
  assert.equal(await store.readAll(), []);
  const t0 = Date.now();
  await blocker.commit(); // sends no notification
  const got = await Promise.race([first, sleep(5000).then(() => null)]);
  await sub.close();
  assert.is(got?.id, e.id);
  assert.ok(Date.now() - t0 < 2000, 'the subscription kept looking, it did not wait for the 60 s poll');
}, 60_000);

it('the poll delivers an event that was appended with no notification at all', async ({ schema, store }) => {
  const { sub, first } = firstEvent(store);
  await sleep(50);
  const e = ev('Silent');
  const tx = await openTransaction();
  await appendIn(tx, schema, 'silent-1', e); // the SQL function alone: no NOTIFY, no local wake
  await tx.commit();
  const got = await Promise.race([first, sleep(5000).then(() => null)]);
  await sub.close();
  assert.is(got?.id, e.id);
}, 200);

pg.after(async () => {
  await sql?.end();
});
pg.run();
