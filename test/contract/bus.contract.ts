/**
 * The Bus contract: every adapter of infra/bus/port.ts must pass this suite unchanged.
 * Each test gets a fresh bus from the factory and cleans it up.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { categoryOf, type RecordedEvent } from '../../events/envelope.ts';
import type { Bus, Consumer, ConsumerOptions, Delivery } from '../../infra/bus/port.ts';

export interface BusHarness {
  bus: Bus;
  cleanup(): Promise<void>;
  /** Another process on the same bus (JetStream: a new connection on the same namespace). */
  second?: () => Promise<Bus>;
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
