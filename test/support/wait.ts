import type { EventStore } from '../../infra/event-store/port.ts';

/** Polls `f` until it returns something truthy, and returns that; fails with `what` after `timeoutMs`. */
export const waitFor = async <T>(
  what: string,
  f: () => Promise<T | undefined | false | null>,
  timeoutMs = 20_000,
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

/**
 * Waits until readers of the whole log see `count` events of streams starting with `streamPrefix`.
 * PostgreSQL readers only see events below the cluster's oldest running transaction (the gap-free rule),
 * so under load a fresh append shows a moment later.
 */
export const visibleInLog = (store: EventStore, streamPrefix: string, count: number) =>
  waitFor(`${count} ${streamPrefix}* events in the log`, async () => {
    const events = await store.readAll({ filter: { streamPrefix }, maxCount: 10_000 });
    return events.length >= count;
  });
