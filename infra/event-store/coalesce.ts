/** Coalesces whole-stream reads asked in one turn of the event loop into one readStreams call. */
import type { RecordedEvent } from '../../events/envelope.ts';
import type { EventStore } from './port.ts';

type Waiter = { resolve: (events: RecordedEvent[]) => void; reject: (error: unknown) => void };

/**
 * Whole-stream reads asked for in the same turn of the event loop go to the store as one readStreams call:
 * many concurrent handlers each reading a (mostly empty) stream cost one round trip together, not one each.
 */
export const coalescedStreamReader = (store: Pick<EventStore, 'readStreams'>) => {
  let queued: Map<string, Waiter[]> | null = null;
  const flush = async () => {
    const batch = queued!;
    queued = null;
    try {
      const read = await store.readStreams([...batch.keys()]);
      for (const [stream, waiters] of batch) for (const w of waiters) w.resolve(read.get(stream) ?? []);
    } catch (error) {
      for (const waiters of batch.values()) for (const w of waiters) w.reject(error);
    }
  };
  return (stream: string): Promise<RecordedEvent[]> =>
    new Promise((resolve, reject) => {
      if (!queued) {
        queued = new Map();
        setImmediate(flush);
      }
      const waiters = queued.get(stream) ?? [];
      waiters.push({ resolve, reject });
      queued.set(stream, waiters);
    });
};
