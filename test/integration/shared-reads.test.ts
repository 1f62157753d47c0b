/**
 * Shared reads of the log (projections/shared-reads.ts): three filtered readers following the log through
 * shared pages get exactly what each would read alone, in order, while the log grows between reads, with
 * fewer reads of the store. On PGlite in process.
 */
import { randomUUID } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RecordedEvent } from '../../events/envelope.ts';
import type { AllFilter, EventStore, ReadAllOptions } from '../../infra/event-store/port.ts';
import { sharedReads } from '../../projections/shared-reads.ts';
import { pgliteFixture } from '../support/projection-fixture.ts';

const append = async (store: EventStore, stream: string, types: string[]) => {
  const metadata = { tenant: 'acme', principal: 'test', correlationId: stream, causationId: null };
  await store.append(
    stream,
    types.map((type) => ({ id: randomUUID(), type, data: { n: 1 }, metadata })),
  );
};

/** Follows the log with `read` until it answers nothing, `maxCount` at a time: the positions it was given. */
const follow = async (
  read: (o: ReadAllOptions) => Promise<RecordedEvent[]>,
  filter: AllFilter | undefined,
  from: number,
  maxCount: number,
) => {
  const seen: number[] = [];
  for (let after = from; ; ) {
    const events = await read({ after, maxCount, filter });
    if (events.length === 0) return { seen, after };
    seen.push(...events.map((e) => e.position));
    after = events[events.length - 1]!.position;
  }
};

test('readers share pages and each gets what it would read alone', async () => {
  const f = await pgliteFixture();
  try {
    let storeReads = 0;
    const counted: EventStore = Object.create(f.store);
    counted.readAll = (o) => {
      storeReads++;
      return f.store.readAll(o);
    };
    const read = sharedReads(counted, 50);
    const filters: Array<AllFilter | undefined> = [
      undefined,
      { types: ['TaskSubmitted', 'TaskStatusUpdated'] },
      { types: ['Rare'] },
      { streamPrefix: 'task-' },
    ];
    const positions = filters.map(() => 0);
    const seen: number[][] = filters.map(() => []);
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 30; i++)
        await append(f.store, `task-${round}-${i}`, ['TaskSubmitted', 'TaskStatusUpdated', 'TaskArtifact']);
      if (round % 2 === 1) await append(f.store, `other-${round}`, ['Rare', 'Other']);
      for (const [i, filter] of filters.entries()) {
        const { seen: got, after } = await follow(read, filter, positions[i]!, 7 + i * 13);
        seen[i]!.push(...got);
        positions[i] = after;
      }
    }
    const sharedCount = storeReads;
    for (const [i, filter] of filters.entries()) {
      const alone = (await f.store.readAll({ filter, maxCount: 100_000 })).map((e) => e.position);
      assert.equal(seen[i], alone, `filter ${JSON.stringify(filter)}`);
    }
    assert.ok(seen[2]!.length === 3, 'the rare events, past pages without any');
    // Alone, a reader reads the store once per batch it takes and once more to find it has caught up;
    // shared, each page is read about once (the caught-up probes remain).
    const batches = filters.reduce((n, _, i) => n + Math.ceil(seen[i]!.length / (7 + i * 13)), 0);
    const alone = batches + filters.length * 6;
    assert.ok(sharedCount < alone / 2, `${sharedCount} store reads, ${alone} alone`);
  } finally {
    await f.cleanup();
  }
});

test('a tenant or correlation filter reads the store directly', async () => {
  const f = await pgliteFixture();
  try {
    await append(f.store, 'task-a', ['TaskSubmitted']);
    const read = sharedReads(f.store);
    assert.is((await read({ filter: { tenant: 'acme' } })).length, 1);
    assert.is((await read({ filter: { tenant: 'other' } })).length, 0);
  } finally {
    await f.cleanup();
  }
});

test.run();
