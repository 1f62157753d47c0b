/**
 * The event store contract: every adapter of infra/event-store/port.ts must pass it. A test file calls
 * `eventStoreContract(name, makeStore)` and runs the returned uvu suite. `makeStore` is called once per
 * test and must give a store over an empty (or at least private) log; each test closes the store, then
 * calls `cleanup`. Tests only look at their own streams (a unique prefix per test), so an adapter whose
 * log is shared (EventStoreDB's $all) passes too.
 */
import { randomUUID } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { EventMetadata, NewEvent, RecordedEvent } from '../../events/envelope.ts';
import {
  type AllFilter,
  ConcurrencyError,
  DuplicateEventError,
  type EventStore,
  type Subscription,
} from '../../infra/event-store/port.ts';

export interface StoreUnderTest {
  store: EventStore;
  cleanup: () => Promise<void>;
  /** Another store over the same log through its own connection(s): used by the concurrency tests. */
  connect?: () => Promise<{ store: EventStore; close: () => Promise<void> }>;
  /**
   * false for a store that cannot check an event id against the whole log (EventStoreDB): it then skips
   * the DuplicateEventError assertions and re-appends only with the original expected revision or 'any'.
   */
  globalIdCheck?: boolean;
  /** false for a store that pushes events instead of reading pages (EventStoreDB): no readGate, no pageBytes. */
  readsPages?: boolean;
}

export interface ContractOptions {
  /** Register every test as skipped (the service is not there). */
  skip?: boolean;
  /** A test that takes longer fails instead of hanging the run (default 30 s). */
  timeoutMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const metadata = (overrides: Partial<EventMetadata> = {}): EventMetadata => ({
  tenant: 'acme',
  principal: 'user:alice',
  correlationId: randomUUID(),
  causationId: null,
  ...overrides,
});

const event = (type: string, data: unknown = {}, extra: Partial<NewEvent> = {}): NewEvent => ({
  id: randomUUID(),
  type,
  data,
  metadata: metadata(),
  ...extra,
});

const batch = (n: number, type = 'Thing') => Array.from({ length: n }, (_, i) => event(type, { i }));

/** A stream-name prefix no other test uses. */
const prefix = () => `t${randomUUID().replaceAll('-', '').slice(0, 12)}`;

const withTimeout = async <T>(p: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
};

const rejects = async <E extends Error>(
  p: Promise<unknown>,
  type: abstract new (...args: never[]) => E,
  what: string,
): Promise<E> => {
  try {
    await p;
  } catch (err) {
    if (err instanceof type) return err;
    throw new Error(`${what}: expected ${type.name}, got ${String(err)}`);
  }
  throw new Error(`${what}: expected ${type.name}, but it succeeded`);
};

/** Iterates a subscription until `done(seen)` holds; fails after `ms`. Closes the subscription. */
const collect = async (
  sub: Subscription,
  done: (seen: RecordedEvent[]) => boolean,
  ms = 10_000,
  keep: (e: RecordedEvent) => boolean = () => true,
): Promise<RecordedEvent[]> => {
  const seen: RecordedEvent[] = [];
  const run = (async () => {
    if (done(seen)) return;
    for await (const e of sub) {
      if (keep(e)) seen.push(e);
      if (done(seen)) return;
    }
    throw new Error(`subscription ended early after ${seen.length} events`);
  })();
  try {
    await withTimeout(run, ms, `subscription saw ${seen.length} events`);
  } finally {
    await sub.close();
  }
  return seen;
};

/**
 * readAll page by page from `after` until `done(seen)` holds. An empty page is not the end: events can
 * become readable a little later (PostgreSQL shows an event only once older transactions have ended).
 */
const readAllUntil = async (
  store: EventStore,
  opts: { after?: number; maxCount?: number; filter?: AllFilter },
  done: (seen: RecordedEvent[]) => boolean,
  keep: (e: RecordedEvent) => boolean = () => true,
  ms = 10_000,
): Promise<RecordedEvent[]> => {
  const seen: RecordedEvent[] = [];
  const deadline = Date.now() + ms;
  let after = opts.after ?? 0;
  do {
    if (Date.now() > deadline) throw new Error(`readAll saw only ${seen.length} events after ${ms} ms`);
    const page = await store.readAll({ after, maxCount: opts.maxCount, filter: opts.filter });
    if (opts.maxCount !== undefined)
      assert.ok(page.length <= opts.maxCount, 'a page is at most maxCount long');
    for (const e of page) if (keep(e)) seen.push(e);
    if (page.length > 0) after = page[page.length - 1]!.position;
    else if (!done(seen)) await sleep(20);
  } while (!done(seen));
  return seen;
};

const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const ids = (events: Array<{ id: string }>) => events.map((e) => e.id);

export const eventStoreContract = (
  name: string,
  makeStore: () => Promise<StoreUnderTest>,
  options: ContractOptions = {},
) => {
  const s = suite(`event store contract: ${name}`);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const it = (title: string, fn: (t: StoreUnderTest) => Promise<void>) => {
    if (options.skip) {
      s.skip(title, () => {});
      return;
    }
    s(title, async () => {
      const t = await makeStore();
      try {
        await withTimeout(fn(t), timeoutMs, title);
      } finally {
        await t.store.close();
        await t.cleanup();
      }
    });
  };

  it('append + readStream round trip every envelope field', async ({ store }) => {
    const stream = `${prefix()}-1`;
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const events: NewEvent[] = [
      {
        id: randomUUID(),
        type: 'TaskSubmitted',
        schemaVersion: 3,
        data: { text: 'hello', parts: [{ kind: 'text', n: 1.5 }], flag: true, none: null },
        metadata: metadata({ principal: 'agent:router', causationId: randomUUID(), traceparent }),
      },
      { id: randomUUID(), type: 'TaskStarted', data: { n: 2 }, metadata: metadata() },
      {
        id: randomUUID(),
        type: 'TaskNote',
        data: 'a bare string',
        metadata: metadata({ causationId: 'cmd-1' }),
      },
    ];
    const before = Date.now();
    const result = await store.append(stream, events, { expectedRevision: 'no_stream' });
    const afterMs = Date.now();
    assert.is(result.nextExpectedRevision, 2);
    assert.is(result.positions.length, 3);
    for (const p of result.positions) assert.type(p, 'number');
    assert.ok(result.positions[0]! < result.positions[1]! && result.positions[1]! < result.positions[2]!);

    const read = await store.readStream(stream);
    assert.is(read.length, 3);
    read.forEach((r, i) => {
      const e = events[i]!;
      assert.is(r.id, e.id);
      assert.is(r.stream, stream);
      assert.is(r.revision, i);
      assert.type(r.revision, 'number');
      assert.is(r.position, result.positions[i]);
      assert.is(r.type, e.type);
      assert.is(r.schemaVersion, e.schemaVersion ?? 1);
      assert.equal(r.data, e.data);
      assert.equal(r.metadata, e.metadata);
      assert.match(r.occurredAt, ISO_MS);
      const t = Date.parse(r.occurredAt);
      assert.ok(t >= before - 60_000 && t <= afterMs + 60_000, `occurredAt ${r.occurredAt} is about now`);
    });
    assert.is(read[0]!.metadata.traceparent, traceparent);
    assert.is(read[1]!.metadata.causationId, null);
  });

  it('readStream: forwards, backwards, fromRevision, maxCount; an unknown stream reads as []', async ({
    store,
  }) => {
    const stream = `${prefix()}-1`;
    await store.append(stream, batch(5), { expectedRevision: 'no_stream' });
    const revs = async (o: Parameters<EventStore['readStream']>[1]) =>
      (await store.readStream(stream, o)).map((e) => e.revision);
    assert.equal(await revs({}), [0, 1, 2, 3, 4]);
    assert.equal(await revs({ fromRevision: 2 }), [2, 3, 4]);
    assert.equal(await revs({ maxCount: 2 }), [0, 1]);
    assert.equal(await revs({ fromRevision: 1, maxCount: 2 }), [1, 2]);
    assert.equal(await revs({ fromRevision: 9 }), []);
    assert.equal(await revs({ direction: 'backwards' }), [4, 3, 2, 1, 0]);
    assert.equal(await revs({ direction: 'backwards', fromRevision: 2 }), [2, 1, 0]);
    assert.equal(await revs({ direction: 'backwards', maxCount: 2 }), [4, 3]);
    assert.equal(await revs({ direction: 'backwards', fromRevision: 3, maxCount: 2 }), [3, 2]);
    assert.equal(await store.readStream(`${prefix()}-missing`), []);
    assert.equal(await store.readStream(`${prefix()}-missing`, { direction: 'backwards' }), []);
  });

  it('readStreams: each stream whole and in revision order, an unknown one as [], duplicates once', async ({
    store,
  }) => {
    const [a, b, missing] = [`${prefix()}-a`, `${prefix()}-b`, `${prefix()}-missing`];
    await store.append(a, batch(3), { expectedRevision: 'no_stream' });
    await store.append(b, batch(2), { expectedRevision: 'no_stream' });
    await store.append(a, batch(1), { expectedRevision: 2 });
    const read = await store.readStreams([b, missing, a, b]);
    assert.equal([...read.keys()].sort(), [a, b, missing].sort());
    assert.equal(
      read.get(a)!.map((e) => [e.stream, e.revision]),
      [0, 1, 2, 3].map((r) => [a, r]),
    );
    assert.equal(
      read.get(b)!.map((e) => e.revision),
      [0, 1],
    );
    assert.equal(read.get(missing), []);
    assert.equal(read.get(a)![3]!.id, (await store.readStream(a))[3]!.id);
    assert.equal(await store.readStreams([]), new Map());
  });

  it('expected revision: no_stream, stream_exists, exact; a stale one fails with the actual revision', async ({
    store,
  }) => {
    const stream = `${prefix()}-1`;
    let err = await rejects(
      store.append(stream, batch(1), { expectedRevision: 'stream_exists' }),
      ConcurrencyError,
      'stream_exists on a missing stream',
    );
    assert.is(err.actual, 'no_stream');
    assert.is(err.expected, 'stream_exists');
    assert.is(err.stream, stream);
    err = await rejects(
      store.append(stream, batch(1), { expectedRevision: 0 }),
      ConcurrencyError,
      '0 on a missing stream',
    );
    assert.is(err.actual, 'no_stream');

    assert.is(
      (await store.append(stream, batch(1), { expectedRevision: 'no_stream' })).nextExpectedRevision,
      0,
    );
    err = await rejects(
      store.append(stream, batch(1), { expectedRevision: 'no_stream' }),
      ConcurrencyError,
      'no_stream on an existing stream',
    );
    assert.is(err.actual, 0);
    assert.is(err.expected, 'no_stream');
    assert.is(
      (await store.append(stream, batch(1), { expectedRevision: 'stream_exists' })).nextExpectedRevision,
      1,
    );
    assert.is((await store.append(stream, batch(2), { expectedRevision: 1 })).nextExpectedRevision, 3);
    err = await rejects(
      store.append(stream, batch(1), { expectedRevision: 1 }),
      ConcurrencyError,
      'stale revision',
    );
    assert.is(err.actual, 3);
    assert.is(err.expected, 1);
    err = await rejects(
      store.append(stream, batch(1), { expectedRevision: 7 }),
      ConcurrencyError,
      'future revision',
    );
    assert.is(err.actual, 3);
    assert.is((await store.append(stream, batch(1), { expectedRevision: 'any' })).nextExpectedRevision, 4);
    assert.is((await store.append(stream, batch(1))).nextExpectedRevision, 5);
    assert.equal(
      (await store.readStream(stream)).map((e) => e.revision),
      [0, 1, 2, 3, 4, 5],
      'failed appends wrote nothing',
    );
  });

  it('two writers with the same expected revision, concurrently: exactly one wins, no gap, no duplicate', async ({
    store,
    connect,
  }) => {
    const other = connect ? await connect() : null;
    const writers = [store, other?.store ?? store];
    try {
      const p = prefix();
      for (let round = 0; round < 10; round++) {
        const stream = `${p}-${round}`;
        const race = async (expectedRevision: 'no_stream' | number) => {
          const attempts = writers.map(() => batch(2));
          const settled = await Promise.allSettled(
            writers.map((w, i) => w.append(stream, attempts[i]!, { expectedRevision })),
          );
          const won = settled.flatMap((r, i) => (r.status === 'fulfilled' ? [{ i, result: r.value }] : []));
          const lost = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
          assert.is(won.length, 1, `exactly one writer wins (round ${round}, expected ${expectedRevision})`);
          assert.is(lost.length, 1);
          assert.instance(lost[0], ConcurrencyError);
          assert.is((lost[0] as ConcurrencyError).actual, won[0]!.result.nextExpectedRevision);
          return attempts[won[0]!.i]!;
        };
        const first = await race('no_stream');
        const second = await race(1);
        const read = await store.readStream(stream);
        assert.equal(
          read.map((e) => e.revision),
          [0, 1, 2, 3],
        );
        assert.equal(ids(read), [...ids(first), ...ids(second)]);
      }
    } finally {
      await other?.close();
    }
  });

  it("'any' with 10 concurrent writers on one stream: all succeed, revisions dense", async ({
    store,
    connect,
  }) => {
    const other = connect ? await connect() : null;
    try {
      const stream = `${prefix()}-1`;
      const attempts = Array.from({ length: 10 }, () => batch(3));
      const results = await Promise.all(
        attempts.map((events, i) =>
          (i % 2 && other ? other.store : store).append(stream, events, { expectedRevision: 'any' }),
        ),
      );
      const read = await store.readStream(stream);
      assert.equal(
        read.map((e) => e.revision),
        Array.from({ length: 30 }, (_, i) => i),
      );
      assert.is(new Set(ids(read)).size, 30);
      attempts.forEach((events, i) => {
        const at = read.findIndex((e) => e.id === events[0]!.id);
        assert.equal(ids(read.slice(at, at + 3)), ids(events), 'one append stays contiguous and in order');
        assert.is(results[i]!.nextExpectedRevision, at + 2);
        assert.equal(
          results[i]!.positions,
          read.slice(at, at + 3).map((e) => e.position),
        );
      });
    } finally {
      await other?.close();
    }
  });

  // A store may combine appends made together into one write (group commit): each must still succeed or
  // fail on its own, whatever its neighbours do.
  it('appends made in one go succeed or fail each on its own: refusals write nothing, the rest are written', async ({
    store,
    globalIdCheck = true,
  }) => {
    const p = prefix();
    await store.append(`${p}-taken`, batch(2));
    const stored = event('Thing');
    await store.append(`${p}-stored`, [stored]);
    const twice = event('Thing');
    const plan = Array.from({ length: 30 }, (_, i) => {
      if (i % 10 === 3)
        return { stream: `${p}-taken`, events: batch(1), expectedRevision: 0, fails: ConcurrencyError };
      if (i % 10 === 6)
        return {
          stream: `${p}-taken`,
          events: batch(1),
          expectedRevision: 'no_stream' as const,
          fails: ConcurrencyError,
        };
      if (i === 9 && globalIdCheck)
        return {
          stream: `${p}-dup`,
          events: [event('Thing'), stored],
          expectedRevision: 'any' as const,
          fails: DuplicateEventError,
        };
      if (i === 19 && globalIdCheck)
        return {
          stream: `${p}-twice`,
          events: [twice, twice],
          expectedRevision: 'any' as const,
          fails: DuplicateEventError,
        };
      // Two appends of one new stream, both 'any': both land, each contiguous.
      const stream = i >= 20 && i < 22 ? `${p}-shared` : `${p}-${i}`;
      return {
        stream,
        events: batch(1 + (i % 3)),
        expectedRevision: i >= 20 && i < 22 ? ('any' as const) : ('no_stream' as const),
        fails: null,
      };
    });
    const settled = await Promise.allSettled(
      plan.map((a) => store.append(a.stream, a.events, { expectedRevision: a.expectedRevision })),
    );
    for (const [i, a] of plan.entries()) {
      const r = settled[i]!;
      if (a.fails) {
        assert.is(r.status, 'rejected', `append ${i} is refused`);
        assert.instance((r as PromiseRejectedResult).reason, a.fails);
        continue;
      }
      assert.is(
        r.status,
        'fulfilled',
        `append ${i} is written: ${String((r as PromiseRejectedResult).reason)}`,
      );
      const read = await store.readStream(a.stream);
      const at = read.findIndex((e) => e.id === a.events[0]!.id);
      assert.ok(at >= 0, `append ${i} is in its stream`);
      assert.equal(ids(read.slice(at, at + a.events.length)), ids(a.events));
      const result = (r as PromiseFulfilledResult<{ nextExpectedRevision: number; positions: number[] }>)
        .value;
      assert.is(result.nextExpectedRevision, at + a.events.length - 1);
      assert.equal(
        result.positions,
        read.slice(at, at + a.events.length).map((e) => e.position),
      );
    }
    assert.equal((await store.readStream(`${p}-taken`)).length, 2, 'refused appends wrote nothing');
    assert.equal(
      (await store.readStream(`${p}-shared`)).length,
      plan[20]!.events.length + plan[21]!.events.length,
    );
    if (globalIdCheck) {
      assert.equal(await store.readStream(`${p}-dup`), [], 'an append with a stored id wrote nothing');
      assert.equal(await store.readStream(`${p}-twice`), [], 'an append with one id twice wrote nothing');
    }
  });

  it('linked appends (where the store has them): all or nothing, beside plain appends of the same batch', async ({
    store,
  }) => {
    if (!store.appendLinked) {
      console.log(`  (${store.kind}: no appendLinked; callers append one stream at a time)`);
      return;
    }
    const p = prefix();
    await store.append(`${p}-run`, batch(2));
    // Written together: every stream, each with its own result.
    const run = batch(2);
    const task = batch(1);
    const results = await store.appendLinked([
      { stream: `${p}-run`, events: run, expectedRevision: 1 },
      { stream: `${p}-task`, events: task, expectedRevision: 'no_stream' },
    ]);
    assert.equal(
      results.map((r) => r.nextExpectedRevision),
      [3, 0],
    );
    assert.equal(ids((await store.readStream(`${p}-run`)).slice(2)), ids(run));
    assert.equal(ids(await store.readStream(`${p}-task`)), ids(task));
    // The same group again: replayed, nothing written twice.
    const again = await store.appendLinked([
      { stream: `${p}-run`, events: run, expectedRevision: 1 },
      { stream: `${p}-task`, events: task, expectedRevision: 'no_stream' },
    ]);
    assert.equal(again, results);
    // One stale item: its ConcurrencyError, and nothing of the group written, while plain appends and other
    // groups of the same batch (made in the same tick) go through.
    const plain = batch(1);
    const other = [batch(1), batch(1)];
    const [stale, written, otherGroup] = await Promise.allSettled([
      store.appendLinked([
        { stream: `${p}-fresh`, events: batch(1), expectedRevision: 'no_stream' },
        { stream: `${p}-run`, events: batch(1), expectedRevision: 1 },
      ]),
      store.append(`${p}-plain`, plain, { expectedRevision: 'no_stream' }),
      store.appendLinked([
        { stream: `${p}-a`, events: other[0]!, expectedRevision: 'no_stream' },
        { stream: `${p}-b`, events: other[1]!, expectedRevision: 'no_stream' },
      ]),
    ]);
    assert.is(stale.status, 'rejected');
    assert.instance((stale as PromiseRejectedResult).reason, ConcurrencyError);
    assert.equal(await store.readStream(`${p}-fresh`), [], 'the group wrote nothing');
    assert.is((await store.readStream(`${p}-run`)).length, 4);
    assert.is(written.status, 'fulfilled');
    assert.equal(ids(await store.readStream(`${p}-plain`)), ids(plain));
    assert.is(otherGroup.status, 'fulfilled');
    assert.equal(ids(await store.readStream(`${p}-b`)), ids(other[1]!));
    // Every linked event is in the log exactly once.
    const linked = new Set([...ids(run), ...ids(task), ...ids(other.flat())]);
    const seen = await readAllUntil(
      store,
      {},
      (xs) => xs.length === linked.size,
      (e) => linked.has(e.id),
    );
    assert.is(new Set(ids(seen)).size, linked.size);
    // A bad argument in one item: refused before anything of the group is queued.
    const first = batch(1);
    try {
      await store.appendLinked([
        { stream: `${p}-first`, events: first, expectedRevision: 'no_stream' },
        { stream: '', events: batch(1) },
      ]);
      assert.unreachable('an empty stream name is refused');
    } catch (error) {
      assert.instance(error, TypeError);
    }
    await store.append(`${p}-after`, batch(1)); // a later batch does not take a stray part of it either
    assert.equal(await store.readStream(`${p}-first`), [], 'nothing of the group written');
  });

  it('idempotent re-append of the same ids returns the original result and writes nothing', async ({
    store,
    globalIdCheck = true,
  }) => {
    const p = prefix();
    const stream = `${p}-1`;
    const [e1, e2, e3] = batch(3);
    const r1 = await store.append(stream, [e1!, e2!], { expectedRevision: 'no_stream' });
    const r2 = await store.append(stream, [e3!], { expectedRevision: 1 });
    assert.equal(await store.append(stream, [e1!, e2!], { expectedRevision: 'no_stream' }), r1);
    assert.equal(await store.append(stream, [e1!, e2!], { expectedRevision: 'any' }), r1);
    assert.equal(await store.append(stream, [e3!], { expectedRevision: 1 }), r2);
    if (globalIdCheck) {
      // whatever the expected revision, as EventStoreDB does for a retried write
      assert.equal(await store.append(stream, [e1!, e2!], { expectedRevision: 7 }), r1);
      assert.equal(await store.append(stream, [e3!], { expectedRevision: 'stream_exists' }), r2);
    }
    assert.equal(ids(await store.readStream(stream)), ids([e1!, e2!, e3!]), 'nothing more was written');

    if (globalIdCheck) {
      const elsewhere = `${p}-2`;
      let err = await rejects(
        store.append(elsewhere, [e1!]),
        DuplicateEventError,
        'an id reused on another stream',
      );
      assert.is(err.eventId, e1!.id);
      assert.equal(await store.readStream(elsewhere), [], 'the other stream was not created');
      err = await rejects(
        store.append(stream, [e3!, event('Thing')]),
        DuplicateEventError,
        'stored ids mixed with new ones',
      );
      assert.is(err.eventId, e3!.id);
      await rejects(store.append(stream, [e2!, e1!]), DuplicateEventError, 'stored ids in another order');
      const twice = event('Thing');
      await rejects(store.append(`${p}-3`, [twice, twice]), DuplicateEventError, 'one id twice in a batch');
      assert.equal(await store.readStream(`${p}-3`), []);
      assert.equal(ids(await store.readStream(stream)), ids([e1!, e2!, e3!]), 'nothing more was written');
    }
  });

  it('readAll and subscribeAll under 10 concurrent writers: every event once, in one order', async ({
    store,
    connect,
  }) => {
    const other = connect ? await connect() : null;
    try {
      const p = prefix();
      const mine = (e: RecordedEvent) => e.stream.startsWith(`${p}-`);
      const sentinel = event('LoadFinished');
      const untilSentinel = (seen: RecordedEvent[]) => seen.at(-1)?.id === sentinel.id;

      // started before the load: catches up on nothing, then follows the load live
      const live = collect(store.subscribeAll(), untilSentinel, 20_000, mine);
      live.catch(() => {}); // awaited below; this only keeps an early failure from being "unhandled"
      await sleep(50);

      const appended: string[] = [];
      const writer = async (w: number) => {
        const via = w % 2 && other ? other.store : store;
        let left = 100;
        while (left > 0) {
          const n = Math.min(left, 1 + Math.floor(Math.random() * 5));
          const events = batch(n, `Load${w % 3}`);
          await via.append(`${p}-load-${Math.floor(Math.random() * 5)}`, events, { expectedRevision: 'any' });
          appended.push(...ids(events));
          left -= n;
          if (Math.random() < 0.5) await sleep(Math.random() * 3);
        }
      };
      await Promise.all(Array.from({ length: 10 }, (_, w) => writer(w)));
      await store.append(`${p}-end`, [sentinel]);

      const paged = await readAllUntil(store, { maxCount: 37 }, untilSentinel, mine);
      assert.is(paged.length, 1001);
      assert.is(new Set(ids(paged)).size, 1001, 'readAll returns each event once');
      assert.equal([...ids(paged)].sort(), [...appended, sentinel.id].sort(), 'readAll returns every event');
      const lastRevision = new Map<string, number>();
      for (const e of paged) {
        assert.is(e.revision, (lastRevision.get(e.stream) ?? -1) + 1, 'each stream is in revision order');
        lastRevision.set(e.stream, e.revision);
      }

      const fromStart = await collect(store.subscribeAll({ after: 0 }), untilSentinel, 20_000, mine);
      const middle = paged[500]!;
      const fromMiddle = await collect(
        store.subscribeAll({ after: middle.position }),
        untilSentinel,
        20_000,
        mine,
      );
      const readFromMiddle = await readAllUntil(
        store,
        { after: middle.position, maxCount: 100 },
        untilSentinel,
        mine,
      );

      assert.equal(
        ids(await live),
        ids(paged),
        'a subscription started before the load sees the readAll order',
      );
      assert.equal(ids(fromStart), ids(paged), 'a subscription started afterwards from 0 sees the same');
      assert.equal(ids(fromMiddle), ids(paged.slice(501)), 'a subscription after a position sees the suffix');
      assert.equal(ids(readFromMiddle), ids(paged.slice(501)), 'readAll after a position reads the suffix');
      assert.equal(
        fromStart.map((e) => e.position),
        paged.map((e) => e.position),
      );
    } finally {
      await other?.close();
    }
  });

  it('head: the newest position readAll can return, where the store tells it', async ({ store }) => {
    if (!store.head) return; // EventStoreDB: optional
    const p = prefix();
    const mine = (e: RecordedEvent) => e.stream.startsWith(p);
    for (const type of ['Alpha', 'Beta', 'Gamma']) await store.append(`${p}h-1`, [event(type)]);
    const [, , last] = await readAllUntil(store, {}, (seen) => seen.length === 3, mine);
    // Once the appends are readable, the head is at or past the last of them, and nothing follows it.
    let head = await store.head();
    for (let i = 0; i < 100 && head < last!.position; i++) head = await store.head();
    assert.ok(head >= last!.position, `head ${head}, last appended ${last!.position}`);
    assert.equal(await store.readAll({ after: head }), []);
    assert.ok((await store.readAll({ after: 0, maxCount: 1_000_000 })).some((e) => e.position === head));
  });

  it('filters by types and by stream prefix, for readAll and subscribeAll', async ({ store }) => {
    const p = prefix();
    const mine = (e: RecordedEvent) => e.stream.startsWith(p);
    const plan: Array<[string, string]> = [
      [`${p}a-1`, 'Alpha'],
      [`${p}b-1`, 'Beta'],
      [`${p}a-2`, 'Gamma'],
      [`${p}b-2`, 'Alpha'],
      [`${p}a-1`, 'Beta'],
      [`${p}ab-1`, 'Alpha'],
      [`${p}b-1`, 'Gamma'],
      [`${p}a-2`, 'Alpha'],
    ];
    const written: Array<{ id: string; stream: string; type: string }> = [];
    for (const [stream, type] of plan) {
      const e = event(type);
      await store.append(stream, [e]);
      written.push({ id: e.id, stream, type });
    }
    const expect = (f: AllFilter) =>
      ids(
        written.filter(
          (w) =>
            (!f.types || f.types.includes(w.type)) &&
            (!f.streamPrefix || w.stream.startsWith(f.streamPrefix)),
        ),
      );
    const filters: AllFilter[] = [
      { types: ['Alpha'] },
      { types: ['Beta', 'Gamma'] },
      { streamPrefix: `${p}a-` },
      { streamPrefix: `${p}a` },
      { types: ['Alpha'], streamPrefix: `${p}b-` },
      { types: ['Nothing'] },
    ];
    const everything = await readAllUntil(store, {}, (seen) => seen.length === plan.length, mine);
    for (const filter of filters) {
      const want = expect(filter);
      const got = await readAllUntil(store, { filter }, (seen) => seen.length >= want.length, mine);
      assert.equal(ids(got), want, `readAll ${JSON.stringify(filter)}`);
      const paged = await readAllUntil(
        store,
        { filter, maxCount: 1 },
        (seen) => seen.length >= want.length,
        mine,
      );
      assert.equal(ids(paged), want, `readAll ${JSON.stringify(filter)} one event per page`);
      if (want.length > 0) {
        const sub = await collect(
          store.subscribeAll({ filter }),
          (seen) => seen.length >= want.length,
          10_000,
          mine,
        );
        assert.equal(ids(sub), want, `subscribeAll ${JSON.stringify(filter)}`);
        // `after` may be the position of an event the filter does not match
        const from = everything[2]!;
        const wantAfter = want.filter((id) => ids(everything).indexOf(id) > 2);
        const after = await readAllUntil(
          store,
          { filter, after: from.position },
          (seen) => seen.length >= wantAfter.length,
          mine,
        );
        assert.equal(ids(after), wantAfter, `readAll ${JSON.stringify(filter)} after a non-matching event`);
      }
    }
    // a filtered subscription that is live when matching and non-matching events arrive
    const filter = { types: ['Delta'], streamPrefix: `${p}live-` };
    const live = store.subscribeAll({ filter });
    const seen = collect(live, (s) => s.length >= 2, 10_000, mine);
    seen.catch(() => {});
    await sleep(30);
    const d1 = event('Delta');
    const d2 = event('Delta');
    await store.append(`${p}live-1`, [event('Alpha'), d1]);
    await store.append(`${p}other-1`, [event('Delta')]);
    await store.append(`${p}live-2`, [d2, event('Beta')]);
    assert.equal(ids(await seen), ids([d1, d2]));
  });

  it("filters by tenant: one tenant's readAll and subscription see only its events, past many of another's", async ({
    store,
  }) => {
    const p = prefix();
    const mine = (e: RecordedEvent) => e.stream.startsWith(p);
    const ours = `${p}-ours`;
    const theirs = `${p}-theirs`;
    const of = (tenant: string, type = 'Thing') => event(type, {}, { metadata: metadata({ tenant }) });
    const want: NewEvent[] = [of(ours), of(ours, 'Other')];
    await store.append(`${p}-a`, [of(theirs), want[0]!, of(theirs)]);
    // More of the other tenant's events than a subscription's page: its cursor must move past them.
    await store.append(
      `${p}-b`,
      Array.from({ length: 30 }, () => of(theirs)),
    );
    await store.append(`${p}-a`, [want[1]!]);
    const got = await readAllUntil(store, { filter: { tenant: ours } }, (s) => s.length >= 2, mine);
    assert.equal(ids(got), ids(want), 'readAll: only the tenant’s events, in log order');
    assert.ok(
      got.every((e) => e.metadata.tenant === ours),
      'every event read names the tenant',
    );
    const typed = await readAllUntil(
      store,
      { filter: { tenant: ours, types: ['Other'] } },
      (s) => s.length >= 1,
      mine,
    );
    assert.equal(ids(typed), [want[1]!.id], 'tenant and types combine');
    const paged = await readAllUntil(
      store,
      { filter: { tenant: ours }, maxCount: 1 },
      (s) => s.length >= 2,
      mine,
    );
    assert.equal(ids(paged), ids(want), 'one event per page');

    // a subscription with a small page: catch-up, then live past another 30 of the other tenant's events
    const sub = store.subscribeAll({ filter: { tenant: ours, streamPrefix: p }, pageSize: 4 });
    const seen = collect(sub, (s) => s.length >= 3, 10_000, mine);
    seen.catch(() => {});
    await sleep(50);
    await store.append(
      `${p}-b`,
      Array.from({ length: 30 }, () => of(theirs)),
    );
    const live = of(ours);
    await store.append(`${p}-c`, [of(theirs), live]);
    const all = await seen;
    assert.equal(ids(all), [...ids(want), live.id], 'subscribeAll: the tenant’s events only, then live');
    assert.ok(
      all.every((e) => e.metadata.tenant === ours),
      'no other tenant’s event is delivered',
    );
    const none = await store.readAll({ filter: { tenant: `${p}-nobody` } });
    assert.equal(none.filter(mine), [], 'a tenant without events reads nothing');
  });

  it('filters by correlation id: readAll and a subscription see only that correlation, with tenant and types', async ({
    store,
  }) => {
    const p = prefix();
    const mine = (e: RecordedEvent) => e.stream.startsWith(p);
    const tenant = `${p}-t`;
    const of = (correlationId: string, type = 'Thing') =>
      event(type, {}, { metadata: metadata({ tenant, correlationId }) });
    const want = [of(`${p}-run`), of(`${p}-run`, 'Other')];
    await store.append(`${p}-a`, [of(`${p}-else`), want[0]!, of(`${p}-else`)]);
    await store.append(`${p}-b`, [want[1]!, of(`${p}-else`)]);
    const filter = { tenant, correlationId: `${p}-run` };
    const got = await readAllUntil(store, { filter }, (s) => s.length >= 2, mine);
    assert.equal(ids(got), ids(want), 'readAll: only the correlation, in log order');
    const typed = await readAllUntil(
      store,
      { filter: { ...filter, types: ['Other'] } },
      (s) => s.length >= 1,
      mine,
    );
    assert.equal(ids(typed), [want[1]!.id], 'correlation and types combine');
    const sub = store.subscribeAll({ filter, pageSize: 2 });
    const seen = collect(sub, (s) => s.length >= 3, 10_000, mine);
    seen.catch(() => {});
    await sleep(50);
    const live = of(`${p}-run`);
    await store.append(`${p}-c`, [of(`${p}-else`), live]);
    assert.equal(ids(await seen), [...ids(want), live.id], 'subscribeAll: the correlation only, then live');
  });

  it('a subscription reads events larger than its byte budget per page, every one once, in order', async ({
    store,
  }) => {
    const p = prefix();
    const mine = (e: RecordedEvent) => e.stream.startsWith(p);
    // 12 events of 700 KB each: 8.4 MB, more than two pages' byte budget (4 MiB) though under 100 events.
    const want = Array.from({ length: 12 }, (_, i) => event('Large', { i, blob: `${i}`.repeat(700_000) }));
    for (const e of want) await store.append(`${p}-large`, [e]);
    const tail = event('Small', {});
    await store.append(`${p}-large`, [tail]);
    const sub = store.subscribeAll({ filter: { streamPrefix: p }, pageSize: 100 });
    const got = await collect(sub, (s) => s.length >= 13, 20_000, mine);
    assert.equal(ids(got), [...ids(want), tail.id]);
    assert.is((got[11]!.data as { blob: string }).blob.length, 1_400_000);
  });

  it('a subscription reads through its readGate, pages of at most pageBytes, every event once', async (under) => {
    if (under.readsPages === false) return; // pushed by the server: nothing to gate
    const { store } = under;
    const p = prefix();
    const mine = (e: RecordedEvent) => e.stream.startsWith(p);
    const want = Array.from({ length: 12 }, (_, i) => event('Sized', { i, blob: 'b'.repeat(60_000) }));
    await store.append(`${p}-sized`, want);
    let reads = 0;
    let inGate = 0;
    let mostInGate = 0;
    const readGate = async <T>(read: () => Promise<T>) => {
      reads++;
      mostInGate = Math.max(mostInGate, ++inGate);
      try {
        await sleep(5);
        return await read();
      } finally {
        inGate--;
      }
    };
    const sub = store.subscribeAll({ filter: { streamPrefix: p }, pageBytes: 100_000, readGate });
    const got = await collect(sub, (s) => s.length >= 12, 20_000, mine);
    assert.equal(ids(got), ids(want));
    // 60 KB events under a 100 KB budget: two a page at most, so six reads or more, one at a time.
    assert.ok(reads >= 6, `${reads} reads through the gate`);
    assert.is(mostInGate, 1);
  });

  it('a 1 MB payload and unicode data and metadata round trip exactly', async ({ store }) => {
    const p = prefix();
    const big = event('Big', {
      blob: 'x'.repeat(1_000_000),
      tail: Array.from({ length: 100 }, (_, i) => `${i}-ü`),
    });
    const text = {
      emoji: '👩‍👩‍👧‍👦 🚀🎉 🏳️‍🌈 👍🏽',
      cjk: '漢字かなカナ한국어 中文字符',
      rtl: 'مرحبا بالعالم עברית שלום',
      combining: 'e\u0301 a\u0308 n\u0303 Z\u0351\u0362 \u1E9B\u0323',
      other: 'ß ﬁ Ω Å \u00A0 \u2028 \u2029 \uFEFF \uFFFD "quotes" \\back\\slash\\ \t tab \n newline',
      '키 🔑 مفتاح': 'unicode keys too',
    };
    const uni: NewEvent = {
      id: randomUUID(),
      type: 'Unicode',
      data: { ...text, list: Object.values(text) },
      metadata: metadata({
        principal: 'user:zoë-李-محمد-👩‍💻',
        correlationId: 'corr-ñ-日本-שלום',
        causationId: 'cause-😀',
      }),
    };
    await store.append(`${p}-big`, [big]);
    await store.append(`${p}-uni`, [uni]);
    const [readBig] = await store.readStream(`${p}-big`);
    assert.equal(readBig!.data, big.data);
    const [readUni] = await store.readStream(`${p}-uni`);
    assert.equal(readUni!.data, uni.data);
    assert.equal(readUni!.metadata, uni.metadata);
    for (const [k, v] of Object.entries(text)) {
      assert.is((readUni!.data as Record<string, string>)[k], v, `exact code points of ${k}`);
    }
    const viaAll = await readAllUntil(
      store,
      { filter: { streamPrefix: p } },
      (s) => s.length === 2,
      (e) => e.stream.startsWith(p),
    );
    assert.equal(viaAll[0]!.data, big.data);
    assert.equal(viaAll[1]!.data, uni.data);
    assert.equal(viaAll[1]!.metadata, uni.metadata);
  });

  it('close() of a subscription ends its iteration, waiting or not', async ({ store }) => {
    const p = prefix();
    // waiting for events that do not come
    const idle = store.subscribeAll({ filter: { streamPrefix: p } });
    const ended = (async () => {
      for await (const _ of idle) throw new Error('no event was expected');
      return 'ended';
    })();
    ended.catch(() => {});
    await sleep(50);
    const t0 = Date.now();
    await idle.close();
    assert.is(await withTimeout(ended, 2000, 'iteration ends after close()'), 'ended');
    assert.ok(Date.now() - t0 < 1000, 'promptly');

    // closed in the middle of a stream of events
    await store.append(`${p}-1`, batch(5));
    const busy = store.subscribeAll({ filter: { streamPrefix: p } });
    const got: RecordedEvent[] = [];
    const consumer = (async () => {
      for await (const e of busy) {
        got.push(e);
        if (got.length === 2) await busy.close();
      }
    })();
    await withTimeout(consumer, 5000, 'iteration ends after close() inside the loop');
    assert.is(got.length, 2);

    // store.close() ends the subscriptions still open
    const open = store.subscribeAll({ filter: { streamPrefix: `${p}-none` } });
    const openEnded = (async () => {
      for await (const _ of open) throw new Error('no event was expected');
    })();
    openEnded.catch(() => {});
    await sleep(50);
    await store.close();
    await withTimeout(openEnded, 2000, 'store.close() ends open subscriptions');
  });

  return s;
};
