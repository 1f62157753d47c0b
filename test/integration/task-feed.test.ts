/**
 * TaskFeed: followers get a stream's events in revision order, each once, whether they come from the store,
 * the bus or a local writer; a follower that says it is fresh skips its first store read; the events kept
 * for streams nobody follows are bounded.
 */
import { randomUUID } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { Subject } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RecordedEvent } from '../../events/envelope.ts';
import { createPgliteEventStore } from '../../infra/event-store/pglite.ts';
import type { EventStore } from '../../infra/event-store/port.ts';
import { TaskFeed } from '../../infra/task-feed.ts';

const s = suite('task feed');
let store: EventStore;
let reads = 0;

s.before(async () => {
  const inner = await createPgliteEventStore({ db: await PGlite.create() });
  // Counts the feed's store reads; everything else goes to the real store.
  store = {
    ...inner,
    kind: inner.kind,
    append: (...a) => inner.append(...a),
    readStream: (...a) => {
      reads++;
      return inner.readStream(...a);
    },
    readStreams: (...a) => inner.readStreams(...a),
    readAll: (...a) => inner.readAll(...a),
    subscribeAll: (...a) => inner.subscribeAll(...a),
    close: () => inner.close(),
  };
});

const append = async (stream: string, n: number, from = 0): Promise<RecordedEvent[]> => {
  const events = Array.from({ length: n }, () => ({
    id: randomUUID(),
    type: 'TaskStatusUpdated',
    data: {},
    metadata: { tenant: 't', principal: 'p', correlationId: 'c', causationId: null },
  }));
  const { positions } = await store.append(stream, events, {
    expectedRevision: from === 0 ? 'no_stream' : from - 1,
  });
  return events.map((e, i) => ({
    ...e,
    stream,
    revision: from + i,
    position: positions[i]!,
    schemaVersion: 1,
    occurredAt: new Date().toISOString(),
  }));
};

const collect = async (feed: TaskFeed, stream: string, after: number, count: number, fresh = false) => {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 5000);
  const got: number[] = [];
  for await (const e of feed.follow(stream, { after, signal: abort.signal, fresh, pollMs: 60_000 })) {
    got.push(e.revision);
    if (got.length === count) break;
  }
  clearTimeout(timer);
  return got;
};

s('a fresh follower finds what was offered before it came, with no store read; duplicates once', async () => {
  const live = new Subject<RecordedEvent>();
  const feed = new TaskFeed(store, live);
  const stream = `task-${randomUUID()}`;
  const written = await append(stream, 4);
  feed.offer(written.slice(1, 3)); // a local writer, before anyone follows
  live.next(written[2]!); // the bus repeats one of them
  const before = reads;
  const following = collect(feed, stream, 0, 3, true);
  feed.offer([written[3]!]);
  assert.equal(await following, [1, 2, 3]);
  assert.is(reads, before, 'no store read');
  feed.close();
});

s('a gap in what was offered is filled from the store, in order', async () => {
  const live = new Subject<RecordedEvent>();
  const feed = new TaskFeed(store, live);
  const stream = `task-${randomUUID()}`;
  const written = await append(stream, 5);
  const following = collect(feed, stream, 0, 4, true);
  live.next(written[4]!); // revision 4 arrives before 1-3: the feed reads them
  assert.equal(await following, [1, 2, 3, 4]);
  feed.close();
});

s('events of streams nobody follows are kept for the 2,048 most recent streams only', async () => {
  const live = new Subject<RecordedEvent>();
  const feed = new TaskFeed(store, live);
  const first = `task-${randomUUID()}`;
  const [event] = await append(first, 1);
  feed.offer([event!]);
  for (let i = 0; i < 2100; i++) {
    feed.offer([{ ...event!, id: randomUUID(), stream: `task-x-${i}`, revision: 0 }]);
  }
  // The first stream's event was forgotten: a fresh follower from -1 waits (nothing kept, no read) and an
  // ordinary one reads it from the store.
  const before = reads;
  assert.equal(await collect(feed, first, -1, 1), [0]);
  assert.is(reads, before + 1, 'read from the store');
  feed.close();
});

s.run();
