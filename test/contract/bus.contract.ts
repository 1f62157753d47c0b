/**
 * The Bus contract: every adapter of infra/bus/port.ts must pass this suite unchanged.
 * Each test gets a fresh bus from the factory and cleans it up.
 */
import type { Subscription } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { categoryOf, type RecordedEvent } from '../../events/envelope.ts';
import type { Bus, Consumer, ConsumerOptions, Delivery, SubjectFilter } from '../../infra/bus/port.ts';

export interface BusHarness {
  bus: Bus;
  cleanup(): Promise<void>;
  /** Another process on the same bus (JetStream: a new connection on the same namespace). */
  second?: () => Promise<Bus>;
  /**
   * Underlying subscriptions open for live() on `bus` (JetStream: core NATS subscriptions), so the suite
   * checks that subscribers of one filter share one, and that it closes when the last one leaves.
   */
  liveSubscriptions?: () => number;
}

export interface BusContractOptions {
  /** Register every test as skipped (the service is unreachable). */
  skip?: boolean;
  /**
   * The harness gives `second()`: the suite then also checks that a process closing its connection with a
   * message unacknowledged gets that message redelivered to another process.
   */
  secondProcess?: boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const waitFor = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000) => {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
};

const tenants = ['acme', 'globex', 'initech'];
const categories = ['task', 'agent'];
const typesOf: Record<string, string[]> = {
  task: ['TaskSubmitted', 'TaskCompleted'],
  agent: ['AgentRegistered'],
};

/** Events with positions from..to, tenants, streams and types varied; ids unique to this run. */
export const makeEvents = (run: string, from: number, to: number): RecordedEvent[] => {
  const out: RecordedEvent[] = [];
  for (let position = from; position <= to; position++) {
    const i = position - 1;
    const tenant = tenants[i % tenants.length]!;
    const category = categories[Math.floor(i / 3) % categories.length]!;
    const stream = `${category}-${i % 4}`;
    const types = typesOf[category]!;
    out.push({
      id: `${run}-e${position}`,
      stream,
      revision: Math.floor(i / 4),
      position,
      type: types[i % types.length]!,
      schemaVersion: 1,
      occurredAt: new Date(Date.UTC(2026, 10, 25, 0, 0, position)).toISOString(),
      data: { n: position, text: `event ${position}`, nested: { ok: true, list: [1, 2] } },
      metadata: {
        tenant,
        principal: 'user-1',
        correlationId: `corr-${position % 5}`,
        causationId: position > 1 ? `${run}-e${position - 1}` : null,
      },
    });
  }
  return out;
};

interface Recorder {
  deliveries: Delivery[];
  ids: () => string[];
  consumer: Consumer;
}

const record = async (
  bus: Bus,
  options: Omit<ConsumerOptions, 'handler'> & { handler?: (d: Delivery) => Promise<void> },
): Promise<Recorder> => {
  const deliveries: Delivery[] = [];
  const consumer = await bus.consume({
    ...options,
    handler: async (d) => {
      deliveries.push(d);
      await options.handler?.(d);
    },
  });
  return { deliveries, ids: () => deliveries.map((d) => d.event.id), consumer };
};

interface LiveRecorder {
  events: RecordedEvent[];
  ids: () => string[];
  completed: () => boolean;
  subscription: Subscription;
}

const watch = (bus: Bus, filter?: SubjectFilter): LiveRecorder => {
  const events: RecordedEvent[] = [];
  let completed = false;
  const subscription = bus.live(filter).subscribe({
    next: (e) => void events.push(e),
    error: (err) => {
      throw err;
    },
    complete: () => {
      completed = true;
    },
  });
  return { events, ids: () => events.map((e) => e.id), completed: () => completed, subscription };
};

const idsOf = (events: RecordedEvent[], keep: (e: RecordedEvent) => boolean = () => true) =>
  events.filter(keep).map((e) => e.id);

const isDeepFrozen = (value: unknown): boolean =>
  value === null ||
  typeof value !== 'object' ||
  (Object.isFrozen(value) && Object.values(value).every(isDeepFrozen));

const sorted = (xs: string[]) => [...xs].sort();
const run = () => Math.random().toString(36).slice(2, 8);

export const busContract = (
  name: string,
  makeBus: () => Promise<BusHarness>,
  options: BusContractOptions = {},
) => {
  const s = suite(name);
  const test = (title: string, fn: (h: BusHarness) => Promise<void>) => {
    const body = async () => {
      const h = await makeBus();
      try {
        await fn(h);
      } finally {
        await h.cleanup();
      }
    };
    if (options.skip) s.skip(title, body);
    else s(title, body);
  };

  test('every event reaches an unfiltered consumer once and is acked; each filter gets exactly its events', async ({
    bus,
  }) => {
    const r = run();
    const events = makeEvents(r, 1, 24);
    const filters = {
      all: undefined,
      tenant: { tenant: 'acme' },
      category: { category: 'agent' },
      stream: { stream: 'task-1' },
      type: { type: 'TaskCompleted' },
      combined: { tenant: 'globex', category: 'task' },
    } as const;
    const expected: Record<string, string[]> = {
      all: events.map((e) => e.id),
      tenant: events.filter((e) => e.metadata.tenant === 'acme').map((e) => e.id),
      category: events.filter((e) => categoryOf(e.stream) === 'agent').map((e) => e.id),
      stream: events.filter((e) => e.stream === 'task-1').map((e) => e.id),
      type: events.filter((e) => e.type === 'TaskCompleted').map((e) => e.id),
      combined: events
        .filter((e) => e.metadata.tenant === 'globex' && categoryOf(e.stream) === 'task')
        .map((e) => e.id),
    };
    for (const [key, ids] of Object.entries(expected)) {
      assert.ok(
        ids.length > 0 && (key === 'all' || ids.length < events.length),
        `a meaningful ${key} filter`,
      );
    }

    const recorders: Record<string, Recorder> = {};
    for (const [key, filter] of Object.entries(filters)) {
      recorders[key] = await record(bus, { durable: `f-${key}`, ...(filter ? { filter } : {}) });
    }
    await bus.publish(events);
    for (const [key, rec] of Object.entries(recorders)) {
      await waitFor(`${key} to receive its events`, () => rec.deliveries.length >= expected[key]!.length);
      await waitFor(`${key} to ack everything`, async () => (await bus.pending(`f-${key}`)) === 0);
    }
    await sleep(150); // nothing more may come
    for (const [key, rec] of Object.entries(recorders)) {
      assert.equal(
        sorted(rec.ids()),
        sorted(expected[key]!),
        `${key}: exactly the matching events, each once`,
      );
      assert.ok(
        rec.deliveries.every((d) => d.deliveryCount === 1),
        `${key}: first deliveries only`,
      );
      await rec.consumer.stop();
    }
    // The envelope survives the trip unchanged, and the subject follows the port's layout.
    const byId = new Map(recorders.all!.deliveries.map((d) => [d.event.id, d]));
    for (const e of events) {
      const d = byId.get(e.id)!;
      assert.equal(d.event, e);
      assert.ok(
        d.subject.endsWith(`.evt.${e.metadata.tenant}.${categoryOf(e.stream)}.${e.stream}.${e.type}`),
        d.subject,
      );
    }
  });

  test('dedup: republished events (whole batches, overlaps, repeats within a call) are delivered once', async ({
    bus,
  }) => {
    const r = run();
    const events = makeEvents(r, 1, 12);
    const rec = await record(bus, { durable: 'dedup' });
    await bus.publish(events.slice(0, 8));
    await bus.publish(events.slice(0, 8)); // the same batch again
    await bus.publish([events[2]!, events[8]!, events[8]!, events[9]!]); // an old one before new ones, a repeat
    await bus.publish(events.slice(6, 12)); // overlapping the tail
    await waitFor('12 deliveries', () => rec.deliveries.length >= 12);
    await waitFor('acks', async () => (await bus.pending('dedup')) === 0);
    await sleep(150);
    assert.equal(sorted(rec.ids()), sorted(events.map((e) => e.id)));
    assert.is(await bus.lastPublishedPosition(), 12);
    await rec.consumer.stop();
  });

  test('a consumer stopped while it is still being set up stops (a SIGTERM right after start)', async ({
    bus,
  }) => {
    for (let i = 0; i < 5; i++) {
      const consumer = await bus.consume({ durable: `early-stop-${i}`, handler: async () => {} });
      const stopped = await Promise.race([consumer.stop().then(() => true), sleep(5000).then(() => false)]);
      assert.ok(stopped, `consumer ${i} stopped within 5 s`);
    }
  });

  test('two consumers with the same durable share the work: together all, none twice', async ({ bus }) => {
    const r = run();
    const events = makeEvents(r, 1, 40);
    const slow = async () => sleep(5);
    const a = await record(bus, { durable: 'shared', maxAckPending: 4, handler: slow });
    const b = await record(bus, { durable: 'shared', maxAckPending: 4, handler: slow });
    await bus.publish(events);
    await waitFor('40 deliveries', () => a.deliveries.length + b.deliveries.length >= 40);
    await waitFor('acks', async () => (await bus.pending('shared')) === 0);
    await sleep(150);
    const union = [...a.ids(), ...b.ids()];
    assert.equal(sorted(union), sorted(events.map((e) => e.id)), 'every event once across both');
    assert.ok(
      a.deliveries.length > 0 && b.deliveries.length > 0,
      `both worked: ${a.deliveries.length}/${b.deliveries.length}`,
    );
    await Promise.all([a.consumer.stop(), b.consumer.stop()]);
  });

  test('a handler that throws gets the message again with deliveryCount 2', async ({ bus }) => {
    const r = run();
    const events = makeEvents(r, 1, 3);
    const rec = await record(bus, {
      durable: 'flaky',
      backoffMs: () => 50,
      handler: async (d) => {
        if (d.deliveryCount === 1) throw new Error('first time fails');
      },
    });
    await bus.publish(events);
    await waitFor('6 deliveries', () => rec.deliveries.length >= 6);
    await waitFor('acks', async () => (await bus.pending('flaky')) === 0);
    await sleep(150);
    for (const e of events) {
      const counts = rec.deliveries.filter((d) => d.event.id === e.id).map((d) => d.deliveryCount);
      assert.equal(counts, [1, 2], e.id);
    }
    assert.equal(await bus.deadLetters('flaky'), []);
    await rec.consumer.stop();
  });

  test('a handler that always throws: maxDeliver deliveries, then dead-lettered and never delivered again', async ({
    bus,
  }) => {
    const r = run();
    const events = makeEvents(r, 1, 2);
    const rec = await record(bus, {
      durable: 'doomed',
      maxDeliver: 3,
      maxAckPending: 1,
      backoffMs: (n) => 10 * n,
      handler: async (d) => {
        throw new Error(`boom ${d.event.id}`);
      },
    });
    await bus.publish(events);
    await waitFor('dead letters', async () => (await bus.deadLetters('doomed')).length >= 2);
    await sleep(300);
    for (const e of events) {
      const counts = rec.deliveries.filter((d) => d.event.id === e.id).map((d) => d.deliveryCount);
      assert.equal(counts, [1, 2, 3], e.id);
    }
    assert.equal(await bus.deadLetters('doomed'), events, 'oldest first, full envelopes');
    assert.equal(await bus.deadLetters('someone-else'), []);
    assert.is(await bus.pending('doomed'), 0);
    await rec.consumer.stop();
  });

  test('a message whose handler never settles is redelivered to the next consumer of the durable after ackWaitMs', async ({
    bus,
  }) => {
    const r = run();
    const [event] = makeEvents(r, 1, 1);
    const firstAt: number[] = [];
    const a = await bus.consume({
      durable: 'hang',
      ackWaitMs: 1000,
      handler: () => {
        firstAt.push(Date.now());
        return new Promise<void>(() => {}); // never settles
      },
    });
    await bus.publish([event!]);
    await waitFor('the first delivery', () => firstAt.length === 1);
    void a.stop(); // stops taking messages; it would wait forever for the hanging handler
    const b = await record(bus, { durable: 'hang', ackWaitMs: 1000 });
    await waitFor('the redelivery', () => b.deliveries.length === 1, 5000);
    const waited = Date.now() - firstAt[0]!;
    assert.ok(waited >= 900, `redelivered after ${waited} ms, not before ackWaitMs`);
    assert.is(b.deliveries[0]!.deliveryCount, 2);
    assert.equal(b.deliveries[0]!.event, event);
    await waitFor('acks', async () => (await bus.pending('hang')) === 0);
    assert.is(firstAt.length, 1);
    await b.consumer.stop();
  });

  test('a handler that reports working() past ackWaitMs keeps its message: no redelivery', async ({
    bus,
  }) => {
    const r = run();
    const rec = await record(bus, {
      durable: 'long-runner',
      ackWaitMs: 1000,
      handler: async (d) => {
        for (let i = 0; i < 8; i++) {
          await sleep(300);
          d.working();
        }
      },
    });
    await bus.publish(makeEvents(r, 1, 1));
    await waitFor('the ack after 2.4 s of work', async () => (await bus.pending('long-runner')) === 0, 6000);
    assert.is(rec.deliveries.length, 1, 'working() held the message for 2.4 s against a 1 s ack wait');
    await rec.consumer.stop();
  });

  test('lastPublishedPosition: 0 on an empty bus, then the position of the newest event', async ({ bus }) => {
    assert.is(await bus.lastPublishedPosition(), 0);
    const r = run();
    const events = makeEvents(r, 1, 7);
    await bus.publish(events.slice(0, 5));
    assert.is(await bus.lastPublishedPosition(), 5);
    await bus.publish(events.slice(5));
    assert.is(await bus.lastPublishedPosition(), 7);
    await bus.publish([events[2]!]); // a duplicate adds nothing
    assert.is(await bus.lastPublishedPosition(), 7);
  });

  test('maxAckPending bounds the handlers in flight', async ({ bus }) => {
    const r = run();
    let inFlight = 0;
    let peak = 0;
    const rec = await record(bus, {
      durable: 'bulkhead',
      maxAckPending: 2,
      handler: async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await sleep(30);
        inFlight--;
      },
    });
    await bus.publish(makeEvents(r, 1, 10));
    await waitFor('10 deliveries', () => rec.deliveries.length >= 10);
    await waitFor('acks', async () => (await bus.pending('bulkhead')) === 0);
    assert.is(peak, 2, 'concurrent up to the bound, never beyond');
    await rec.consumer.stop();
  });

  test('maxAckPending 1: a consumer sees events in publish order, even across a retry', async ({ bus }) => {
    const r = run();
    const events = makeEvents(r, 1, 30);
    const rec = await record(bus, {
      durable: 'ordered',
      maxAckPending: 1,
      backoffMs: () => 30,
      handler: async (d) => {
        await sleep(d.event.position % 3);
        if (d.event.position === 7 && d.deliveryCount === 1) throw new Error('retry me');
      },
    });
    await bus.publish(events.slice(0, 10));
    await bus.publish(events.slice(10));
    await waitFor('31 deliveries', () => rec.deliveries.length >= 31);
    const seen = rec.deliveries.map((d) => d.event.position);
    const want = events.map((e) => e.position);
    want.splice(7, 0, 7); // 7 fails once and is retried before 8
    assert.equal(seen, want);
    await rec.consumer.stop();
  });

  test('stop() waits for the handlers in flight, and the consumer takes nothing after it', async ({
    bus,
  }) => {
    const r = run();
    const events = makeEvents(r, 1, 6);
    let finished = 0;
    const rec = await record(bus, {
      durable: 'graceful',
      maxAckPending: 2,
      handler: async () => {
        await sleep(80);
        finished++;
      },
    });
    await bus.publish(events);
    await waitFor('a delivery', () => rec.deliveries.length >= 1);
    await rec.consumer.stop();
    const handled = rec.deliveries.length;
    assert.is(finished, handled, 'every started handler finished before stop() resolved');
    await sleep(200);
    assert.is(rec.deliveries.length, handled, 'nothing delivered after stop()');
    // The rest is still there for the next consumer of the durable.
    const next = await record(bus, { durable: 'graceful' });
    await waitFor('the rest', () => next.deliveries.length + handled >= 6);
    await waitFor('acks', async () => (await bus.pending('graceful')) === 0);
    await next.consumer.stop();
    assert.is(rec.deliveries.length + next.deliveries.length, 6, 'each handled once');
    assert.equal(sorted([...rec.ids(), ...next.ids()]), sorted(events.map((e) => e.id)));
  });

  const openLive = (h: BusHarness, expected: number, when: string) => {
    if (h.liveSubscriptions) assert.is(h.liveSubscriptions(), expected, `live subscriptions open ${when}`);
  };

  test('live: two subscribers each get every event, in publish order, as one frozen copy', async (h) => {
    const { bus } = h;
    const events = makeEvents(run(), 1, 30);
    const a = watch(bus);
    const b = watch(bus);
    openLive(h, 1, 'for two subscribers of one filter');
    await bus.publish(events.slice(0, 12));
    await bus.publish(events.slice(12));
    await waitFor('both to get 30', () => a.events.length >= 30 && b.events.length >= 30);
    await sleep(150); // nothing more may come
    assert.equal(a.ids(), idsOf(events), 'a: every event once, in publish order');
    assert.equal(b.ids(), idsOf(events), 'b: every event once, in publish order');
    for (let i = 0; i < events.length; i++) {
      assert.equal(a.events[i], events[i], 'the envelope survives the trip');
      assert.ok(a.events[i] === b.events[i], 'one decoded copy for every subscriber of a filter');
      assert.ok(a.events[i] !== events[i], 'never the object given to publish()');
      assert.ok(isDeepFrozen(a.events[i]), 'deep-frozen');
    }
    a.subscription.unsubscribe();
    b.subscription.unsubscribe();
    openLive(h, 0, 'after both left');
  });

  test('live: a filter gets exactly its events, in publish order; one shared subscription per filter', async (h) => {
    const { bus } = h;
    const events = makeEvents(run(), 1, 36);
    const cases: Array<[SubjectFilter, (e: RecordedEvent) => boolean]> = [
      [{ category: 'agent' }, (e) => categoryOf(e.stream) === 'agent'],
      [{ stream: 'task-1' }, (e) => e.stream === 'task-1'],
      [
        { tenant: 'acme', category: 'task' },
        (e) => e.metadata.tenant === 'acme' && categoryOf(e.stream) === 'task',
      ],
      [{ type: 'TaskCompleted' }, (e) => e.type === 'TaskCompleted'],
      [{ tenant: 'globex' }, (e) => e.metadata.tenant === 'globex'],
    ];
    const watchers = cases.map(([filter, keep]) => {
      const expected = idsOf(events, keep);
      assert.ok(
        expected.length > 0 && expected.length < events.length,
        `a meaningful filter ${JSON.stringify(filter)}`,
      );
      return { filter, expected, w: watch(bus, filter), twin: watch(bus, { ...filter }) };
    });
    openLive(h, cases.length, 'for two subscribers of each of five filters');
    await bus.publish(events);
    for (const { filter, expected, w, twin } of watchers) {
      await waitFor(
        `${JSON.stringify(filter)} to get its events`,
        () => twin.events.length >= expected.length,
      );
      await waitFor(`${JSON.stringify(filter)} to get its events`, () => w.events.length >= expected.length);
    }
    await sleep(150);
    for (const { filter, expected, w, twin } of watchers) {
      assert.equal(w.ids(), expected, JSON.stringify(filter));
      assert.equal(twin.ids(), expected, JSON.stringify(filter));
      w.subscription.unsubscribe();
      twin.subscription.unsubscribe();
    }
    openLive(h, 0, 'after everyone left');
  });

  test('live: events published before subscribing are not delivered, to a first or a joining subscriber', async (h) => {
    const { bus } = h;
    const events = makeEvents(run(), 1, 15);
    await bus.publish(events.slice(0, 5));
    const first = watch(bus);
    await bus.publish(events.slice(5, 10));
    await waitFor('the first to get 6..10', () => first.events.length >= 5);
    const joining = watch(bus); // joins the shared subscription that is already running
    openLive(h, 1, 'for a first and a joining subscriber');
    await bus.publish(events.slice(10));
    await waitFor('11..15', () => first.events.length >= 10 && joining.events.length >= 5);
    await sleep(150);
    assert.equal(first.ids(), idsOf(events.slice(5)));
    assert.equal(joining.ids(), idsOf(events.slice(10)));
    first.subscription.unsubscribe();
    joining.subscription.unsubscribe();
  });

  test('live: nothing after unsubscribe; the shared subscription closes with the last subscriber and reopens', async (h) => {
    const { bus } = h;
    const events = makeEvents(run(), 1, 20);
    const a = watch(bus, { category: 'task' });
    const b = watch(bus, { category: 'task' });
    const task = (from: number, to: number) =>
      idsOf(events.slice(from - 1, to), (e) => categoryOf(e.stream) === 'task');
    await bus.publish(events.slice(0, 5));
    await waitFor(
      'a and b to get 1..5',
      () => a.events.length >= task(1, 5).length && b.events.length >= task(1, 5).length,
    );
    a.subscription.unsubscribe();
    openLive(h, 1, 'while b stays');
    await bus.publish(events.slice(5, 10));
    await waitFor('b to get 6..10', () => b.events.length >= task(1, 10).length);
    b.subscription.unsubscribe();
    openLive(h, 0, 'after the last subscriber left');
    await bus.publish(events.slice(10, 15));
    const c = watch(bus, { category: 'task' });
    openLive(h, 1, 'after a new subscriber came');
    await bus.publish(events.slice(15));
    await waitFor('c to get 16..20', () => c.events.length >= task(16, 20).length);
    await sleep(150);
    assert.equal(a.ids(), task(1, 5), 'a: nothing after it left');
    assert.equal(b.ids(), task(1, 10), 'b: nothing after it left');
    assert.equal(c.ids(), task(16, 20), 'c: only what came after it subscribed');
    assert.not.ok(a.completed() || b.completed(), 'unsubscribing is not completion');
    c.subscription.unsubscribe();
    openLive(h, 0, 'at the end');
  });

  test('live: 200 subscribers on one filter all get every event in order, served by one subscription', async (h) => {
    const { bus } = h;
    const events = makeEvents(run(), 1, 60);
    const expected = idsOf(events, (e) => categoryOf(e.stream) === 'task');
    const watchers = Array.from({ length: 200 }, () => watch(bus, { category: 'task' }));
    openLive(h, 1, 'for 200 subscribers of one filter');
    await bus.publish(events.slice(0, 30));
    await bus.publish(events.slice(30));
    await waitFor('all 200 to get everything', () =>
      watchers.every((w) => w.events.length >= expected.length),
    );
    await sleep(150);
    for (const w of watchers) assert.equal(w.ids(), expected);
    for (const w of watchers) w.subscription.unsubscribe();
    openLive(h, 0, 'after all 200 left');
  });

  test('live: republished events and older revisions of a stream are never delivered again', async (h) => {
    const { bus } = h;
    const events = makeEvents(run(), 1, 14);
    const w = watch(bus);
    await bus.publish(events.slice(0, 10));
    await bus.publish(events.slice(0, 10)); // a relay re-publishing what the bus holds
    await bus.publish([...events.slice(4, 12), events[12]!, events[12]!]); // overlap, repeat within a call
    // A new id, but an older revision of a stream that was delivered at a later one.
    const later = events[12]!;
    const stale: RecordedEvent = { ...later, id: `${later.id}-stale`, revision: later.revision - 1 };
    await bus.publish([stale, events[13]!]);
    await waitFor('14 events', () => w.events.length >= 14);
    await sleep(200);
    assert.equal(w.ids(), idsOf(events), 'each once, in order, the stale revision left out');
    w.subscription.unsubscribe();
  });

  test('live: subscribers complete when the bus closes, and at once on a closed bus', async (h) => {
    const bus = h.second ? await h.second() : h.bus; // JetStream: the harness still destroys the namespace
    const events = makeEvents(run(), 1, 3);
    const w = watch(bus, { category: 'task' });
    const other = watch(bus, { category: 'agent' });
    await bus.publish(events);
    await waitFor('the task events', () => w.events.length >= 2);
    await bus.close();
    await waitFor('completion', () => w.completed() && other.completed());
    const late = watch(bus);
    await waitFor('completion at once', () => late.completed());
    assert.is(late.events.length, 0);
  });

  if (!options.secondProcess) return s;
  test('closing a connection with a message unacked: another process of the durable gets it after ackWaitMs', async (h) => {
    if (!h.second) throw new Error('secondProcess is set but the harness has no second()');
    const r = run();
    const [event] = makeEvents(r, 1, 1);
    const other = await h.second();
    const firstAt: number[] = [];
    await other.consume({
      durable: 'crash',
      ackWaitMs: 1000,
      handler: () => {
        firstAt.push(Date.now());
        return new Promise<void>(() => {});
      },
    });
    await h.bus.publish([event!]);
    await waitFor('the first delivery', () => firstAt.length === 1);
    await other.close(); // the process goes away without acking
    const b = await record(h.bus, { durable: 'crash', ackWaitMs: 1000 });
    await waitFor('the redelivery', () => b.deliveries.length === 1, 5000);
    assert.ok(Date.now() - firstAt[0]! >= 900);
    assert.is(b.deliveries[0]!.deliveryCount, 2);
    assert.equal(b.deliveries[0]!.event, event);
    await b.consumer.stop();
  });

  return s;
};
