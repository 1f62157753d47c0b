import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import * as assert from 'uvu/assert';
import { createJetStreamBus, type JetStreamBus } from '../../infra/bus/jetstream.ts';
import { type Bus, eventSubject } from '../../infra/bus/port.ts';
import { NATS_URL, requireService, uniqueName } from '../support/services.ts';
import { busContract, makeEvents, waitFor } from './bus.contract.ts';

const up = await requireService('nats');

const open = (namespace: string) => createJetStreamBus({ servers: NATS_URL, namespace });

const contract = busContract(
  'bus contract: jetstream',
  async () => {
    const namespace = uniqueName('bus');
    const bus = await open(namespace);
    const others: Bus[] = [];
    return {
      bus,
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
