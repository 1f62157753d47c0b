import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import * as assert from 'uvu/assert';
import { categoryOf, type RecordedEvent } from '../../events/envelope.ts';
import { createJetStreamBus, type JetStreamBus } from '../../infra/bus/jetstream.ts';
import { type Bus, eventSubject } from '../../infra/bus/port.ts';
import { NATS_URL, requireService, uniqueName } from '../support/services.ts';
import { busContract, makeEvents, waitFor } from './bus.contract.ts';

const up = await requireService('nats');

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const open = (namespace: string) => createJetStreamBus({ servers: NATS_URL, namespace });

const contract = busContract(
  'bus contract: jetstream',
  async () => {
    const namespace = uniqueName('bus');
    const bus = await open(namespace);
    const others: Bus[] = [];
    return {
      bus,
      liveSubscriptions: () => bus.liveSubscriptions(),
      second: async () => {
        const other = await open(namespace);
        others.push(other);
        return other;
      },
      cleanup: async () => {
        for (const o of others) await o.close();
        await bus.destroy();
      },
    };
  },
  { skip: !up, secondProcess: true },
);

/** What only JetStream has: the stored messages themselves, as other tools and the relay see them. */
const specific = (title: string, fn: (bus: JetStreamBus) => Promise<void>) => {
  const body = async () => {
    const bus = await open(uniqueName('bus'));
    try {
      await fn(bus);
    } finally {
      await bus.destroy();
    }
  };
  if (up) contract(title, body);
  else contract.skip(title, body);
};

const inspect = async <T>(
  fn: (jsm: Awaited<ReturnType<typeof jetstreamManager>>) => Promise<T>,
): Promise<T> => {
  const nc = await connect({ servers: NATS_URL });
  try {
    return await fn(await jetstreamManager(nc));
  } finally {
    await nc.close();
  }
};

specific('streams, subjects and headers are what the design says', async (bus) => {
  const events = makeEvents('hdr', 1, 3);
  await bus.publish(events);
  await inspect(async (jsm) => {
    const info = await jsm.streams.info(bus.streams.events);
    assert.equal(info.config.subjects, [`${bus.namespace}.evt.>`]);
    assert.is(info.config.duplicate_window, 120_000_000_000);
    assert.is(info.config.max_age, 0);
    assert.is(info.config.storage, 'file');
    assert.is(info.state.messages, 3);
    assert.equal((await jsm.streams.info(bus.streams.dlq)).config.subjects, [`${bus.namespace}.dlq.>`]);
    const last = (await jsm.streams.getMessage(bus.streams.events, { seq: 3 }))!;
    assert.is(last.subject, `${bus.namespace}.evt.initech.task.task-2.TaskSubmitted`);
    assert.is(last.subject, eventSubject(bus.namespace, events[2]!));
    assert.is(last.header.get('Ac-Position'), '3');
    assert.is(last.header.get('Ac-Event-Id'), 'hdr-e3');
    assert.is(last.header.get('Ac-Type'), 'TaskSubmitted');
    assert.is(last.header.get('Nats-Msg-Id'), 'hdr-e3');
    assert.equal(last.json(), events[2]);
  });
});

specific(
  'an event over the server max_payload goes out without its data, and the ones after it follow',
  async (bus) => {
    const [big, after] = makeEvents('big', 1, 2);
    const huge = { ...big!, data: { text: 'x'.repeat(1_200_000) } };
    await bus.publish([huge, after!]);
    assert.is(await bus.lastPublishedPosition(), 2, 'the relay is not stuck behind the large event');
    await inspect(async (jsm) => {
      const m = (await jsm.streams.getMessage(bus.streams.events, { seq: 1 }))!;
      assert.ok(Number(m.header.get('Ac-Omitted')) > 1_200_000);
      const stored = m.json<RecordedEvent>();
      assert.is(stored.id, huge.id);
      assert.match(JSON.stringify(stored.data), /omitted/);
      assert.equal((await jsm.streams.getMessage(bus.streams.events, { seq: 2 }))!.json(), after);
    });
  },
);

specific('a dead letter carries the error and the delivery count in headers', async (bus) => {
  const [event] = makeEvents('dlq', 1, 1);
  const c = await bus.consume({
    durable: 'dlq-headers',
    maxDeliver: 1,
    handler: async () => {
      throw new Error('bad\r\nthing');
    },
  });
  await bus.publish([event!]);
  await waitFor('the dead letter', async () => (await bus.deadLetters('dlq-headers')).length === 1);
  await c.stop();
  await inspect(async (jsm) => {
    const m = (await jsm.streams.getMessage(bus.streams.dlq, { seq: 1 }))!;
    assert.is(m.subject, `${bus.namespace}.dlq.dlq-headers`);
    assert.is(m.header.get('Ac-Error'), 'bad thing');
    assert.is(m.header.get('Ac-Deliveries'), '1');
    assert.is(m.header.get('Ac-Durable'), 'dlq-headers');
  });
});

specific('lastPublishedPosition reads what the stream holds, not what was acknowledged once', async (bus) => {
  await bus.publish(makeEvents('tail', 1, 5));
  assert.is(await bus.lastPublishedPosition(), 5);
  // Stand-in for a NATS crash that lost its unsynced tail: the last two messages are gone.
  await inspect(async (jsm) => {
    await jsm.streams.deleteMessage(bus.streams.events, 5);
    await jsm.streams.deleteMessage(bus.streams.events, 4);
  });
  assert.is(await bus.lastPublishedPosition(), 3);
});

specific(
  'live: JetStream publishes reach core subscribers of other connections, duplicates and refused ones too; live() drops those',
  async (bus) => {
    const events = makeEvents('raw', 1, 6);
    const nc = await connect({ servers: NATS_URL });
    const other = await open(bus.namespace); // another process of the same namespace
    try {
      // What the server does (2.9.10), which the design relies on and guards against.
      const raw: string[] = [];
      nc.subscribe(`${bus.namespace}.evt.>`, {
        callback: (_err, m) => void raw.push(m.json<RecordedEvent>().id),
      });
      await nc.flush();
      const seen: RecordedEvent[] = [];
      other.live().subscribe((e) => void seen.push(e));
      await other.flush(); // the other connection's subscription is known to the server from here
      await bus.publish(events.slice(0, 4));
      await bus.publish(events.slice(2, 6)); // 3 and 4 again: JetStream drops them as duplicates
      await inspect(async (jsm) => {
        assert.is(
          (await jsm.streams.info(bus.streams.events)).state.messages,
          6,
          'the stream stores each once',
        );
      });
      // A refused publish (wrong expected last id) is not stored, yet core subscribers get it.
      const js = jetstream(nc);
      const refused = makeEvents('raw-refused', 7, 7)[0]!;
      await js
        .publish(eventSubject(bus.namespace, refused), JSON.stringify(refused), {
          msgID: refused.id,
          expect: { lastMsgID: 'not-the-last-one' },
        })
        .then(
          () => assert.unreachable('the server should refuse it'),
          (err: Error) => assert.match(err.message, /wrong last msg ID/),
        );
      await waitFor('the raw subscriber to get 9 messages', () => raw.length >= 9);
      assert.equal(raw, [
        'raw-e1',
        'raw-e2',
        'raw-e3',
        'raw-e4',
        'raw-e3',
        'raw-e4',
        'raw-e5',
        'raw-e6',
        refused.id,
      ]);
      await waitFor('the live subscriber on the other connection', () => seen.length >= 7);
      await delay(150);
      // The refused event is new to its stream, so live() passes it: callers fill gaps from the store.
      assert.equal(
        seen.map((e) => e.id),
        [...events.map((e) => e.id), refused.id],
      );
    } finally {
      await other.close();
      await nc.close();
    }
  },
);

specific(
  'live: one NATS subscription serves 200 subscribers and goes when the last leaves (server traffic)',
  async (bus) => {
    const events = makeEvents('traffic', 1, 60);
    // The server sends this connection one message per publish ack, plus one per task event for the one
    // subscription: 200 subscriptions would make it send each task event 200 times.
    const taskCount = events.slice(0, 30).filter((e) => categoryOf(e.stream) === 'task').length;
    const got = Array.from({ length: 200 }, () => [] as RecordedEvent[]);
    await bus.flush();
    const before = bus.stats().inMsgs;
    const subs = got.map((list) => bus.live({ category: 'task' }).subscribe((e) => void list.push(e)));
    assert.is(bus.liveSubscriptions(), 1);
    await bus.publish(events.slice(0, 30));
    await waitFor('200 subscribers to get the task events', () => got.every((l) => l.length >= taskCount));
    await bus.flush();
    await delay(100);
    assert.is(bus.stats().inMsgs - before, 30 + taskCount, 'messages the server sent this connection');
    for (const s of subs) s.unsubscribe();
    assert.is(bus.liveSubscriptions(), 0);
    const after = bus.stats().inMsgs;
    await bus.publish(events.slice(30));
    await bus.flush();
    await delay(100);
    assert.is(bus.stats().inMsgs - after, 30, 'only the publish acks: the server has no subscription left');
    assert.ok(got.every((l) => l.length === taskCount));
  },
);

const rejects = async (fn: () => Promise<unknown>, pattern?: RegExp) => {
  try {
    await fn();
  } catch (err) {
    if (pattern) assert.match(String((err as Error).message), pattern);
    return;
  }
  assert.unreachable('expected a rejection');
};

// These two need no server, so the file still runs something (and says so) when NATS is down.
contract('createJetStreamBus refuses a namespace that is not a subject token', async () => {
  await rejects(() => createJetStreamBus({ servers: NATS_URL, namespace: 'a.b' }), /namespace/);
});

contract('createJetStreamBus fails cleanly when no server answers', async () => {
  const started = Date.now();
  await rejects(() => createJetStreamBus({ servers: 'nats://127.0.0.1:1' }));
  assert.ok(Date.now() - started < 5000);
});

contract.run();
