import * as assert from 'uvu/assert';
import { createInProcessBus, subjectMatches } from '../../infra/bus/in-process.ts';
import { busContract, makeEvents, waitFor } from './bus.contract.ts';

const contract = busContract('bus contract: in-process', async () => {
  const bus = createInProcessBus();
  return { bus, cleanup: () => bus.close(), liveSubscriptions: () => bus.liveSubscriptions() };
});

contract('subject matching: `*` is one token, a final `>` one or more', () => {
  assert.ok(subjectMatches('ac.evt.>', 'ac.evt.t.task.task-1.X'));
  assert.ok(subjectMatches('ac.evt.*.task.*.*', 'ac.evt.t.task.task-1.X'));
  assert.not.ok(subjectMatches('ac.evt.*.agent.*.*', 'ac.evt.t.task.task-1.X'));
  assert.not.ok(subjectMatches('ac.evt.*.task.*', 'ac.evt.t.task.task-1.X'));
  assert.not.ok(subjectMatches('ac.evt.t.task.task-1.X.>', 'ac.evt.t.task.task-1.X'));
  assert.not.ok(subjectMatches('ac.>', 'ac'));
  assert.not.ok(subjectMatches('ac.evt.t', 'ac.evt.t.task'));
  assert.ok(subjectMatches('ac.*', 'ac.x'));
});

/** Stands in for the bus_durables table that the composition root gives the bus. */
const memoryState = (initial: Record<string, number> = {}, saveDelayMs = 0) => {
  const saved = { ...initial };
  const saves: Array<[string, number]> = [];
  return {
    saved,
    saves,
    load: async () => ({ ...saved }),
    save: async (durable: string, position: number) => {
      if (saveDelayMs) await new Promise((r) => setTimeout(r, saveDelayMs));
      saved[durable] = position;
      saves.push([durable, position]);
    },
  };
};

contract(
  'restart: lastPublishedPosition falls back to the smallest acked position of the durables',
  async () => {
    const state = memoryState();
    const events = makeEvents('restart', 1, 10);
    const first = createInProcessBus({ durableState: state });
    assert.is(await first.lastPublishedPosition(), 0, 'nothing saved yet: from the start');
    const fast = await first.consume({ durable: 'fast', handler: async () => {} });
    // `slow` is stuck on position 6: its contiguous acked prefix ends at 5.
    const slow = await first.consume({
      durable: 'slow',
      maxAckPending: 1,
      handler: (d) => (d.event.position === 6 ? new Promise<void>(() => {}) : Promise.resolve()),
    });
    await first.publish(events);
    await waitFor('fast to ack 10', () => state.saved.fast === 10);
    await waitFor('slow to ack 5', () => state.saved.slow === 5);
    assert.is(await first.lastPublishedPosition(), 10);
    await fast.stop();
    void slow.stop(); // hangs on 6, as a crashed process would
    await first.close();

    const second = createInProcessBus({ durableState: state });
    assert.is(await second.lastPublishedPosition(), 5, 'the relay republishes after 5');
    // The relay republishes 6..10; both durables get them (at-least-once; consumers are idempotent).
    const seen: Record<string, number[]> = { fast: [], slow: [] };
    for (const durable of ['fast', 'slow']) {
      await second.consume({ durable, handler: async (d) => void seen[durable]!.push(d.event.position) });
    }
    await second.publish(events.slice(5));
    await waitFor('both caught up', () => state.saved.fast === 10 && state.saved.slow === 10);
    assert.equal(seen.slow, [6, 7, 8, 9, 10]);
    assert.is(await second.lastPublishedPosition(), 10);
    await second.close();
  },
);

contract('saves are coalesced: one in flight per durable, the newest value last', async () => {
  const state = memoryState({}, 20);
  const bus = createInProcessBus({ durableState: state });
  await bus.consume({ durable: 'busy', handler: async () => {} });
  await bus.publish(makeEvents('coalesce', 1, 200));
  await waitFor('the final save', () => state.saved.busy === 200);
  assert.ok(state.saves.length < 20, `${state.saves.length} saves for 200 acks`);
  const positions = state.saves.map(([, p]) => p);
  assert.equal(
    positions,
    [...positions].sort((a, b) => a - b),
    'saved positions only advance here',
  );
  await bus.close();
});

contract('memory: the prefix every durable has acked is dropped from the log', async () => {
  const bus = createInProcessBus({ retain: 0 });
  const events = makeEvents('trim', 1, 50);
  const a = await bus.consume({ durable: 'a', handler: async () => {} });
  const b = await bus.consume({
    durable: 'b',
    maxAckPending: 1,
    handler: (d) => (d.event.position === 21 ? new Promise<void>(() => {}) : Promise.resolve()),
  });
  await bus.publish(events);
  await waitFor('a done', async () => (await bus.pending('a')) === 0);
  await waitFor('b stuck at 21', async () => (await bus.pending('b')) === 30);
  assert.is(bus.retained(), 30, 'events 21..50 are kept for b');
  await a.stop();
  void b.stop();
  await bus.close();

  const alone = createInProcessBus({ retain: 0 });
  const c = await alone.consume({ durable: 'c', handler: async () => {} });
  await alone.publish(events);
  await waitFor('c done', async () => (await alone.pending('c')) === 0);
  assert.is(alone.retained(), 0);
  assert.is(await alone.lastPublishedPosition(), 50, 'known after trimming');
  await c.stop();
  await alone.close();
});

contract('a durable that registers late still sees the retained events', async () => {
  const bus = createInProcessBus({ retain: 100 });
  const events = makeEvents('late', 1, 20);
  const early = await bus.consume({ durable: 'early', handler: async () => {} });
  await bus.publish(events);
  await waitFor('early done', async () => (await bus.pending('early')) === 0);
  const seen: number[] = [];
  const late = await bus.consume({ durable: 'late', handler: async (d) => void seen.push(d.event.position) });
  await waitFor('late done', () => seen.length === 20);
  await early.stop();
  await late.stop();
  await bus.close();
});

contract('live: an observer that publishes from next() does not reorder what the others see', async () => {
  const bus = createInProcessBus();
  const events = makeEvents('reenter', 1, 6);
  const seen: Record<string, number[]> = { publisher: [], other: [] };
  bus.live().subscribe((e) => {
    seen.publisher!.push(e.position);
    if (e.position === 1) void bus.publish(events.slice(3)); // while 1 is still being handed out
  });
  bus.live().subscribe((e) => void seen.other!.push(e.position));
  await bus.publish(events.slice(0, 3));
  assert.equal(seen.publisher, [1, 2, 3, 4, 5, 6]);
  assert.equal(seen.other, [1, 2, 3, 4, 5, 6], 'delivered before publish() returned, in one order');
  await bus.close();
});

contract(
  'live: the per-stream revision memory is bounded (least recently seen streams are forgotten)',
  async () => {
    const bus = createInProcessBus({ liveStreamsRemembered: 2 });
    const [a, b, c] = makeEvents('lru', 1, 3).map((e, i) => ({
      ...e,
      stream: `task-${'abc'[i]}`,
      revision: 5,
    }));
    const ids: string[] = [];
    bus.live().subscribe((e) => void ids.push(e.id));
    const older = (e: typeof a) => ({ ...e!, id: `${e!.id}-older`, revision: 4 });
    await bus.publish([a!, b!, older(b), c!]); // b's older revision is dropped; c pushes a out
    await bus.publish([older(c), older(a)]); // c is remembered, a is not any more
    assert.equal(ids, [a!.id, b!.id, c!.id, older(a).id]);
    await bus.close();
  },
);

contract.run();
