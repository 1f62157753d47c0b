/** Wraps an event store so that every successful append is also published in process (rxjs). */
import { Subject } from 'rxjs';
import type { EventStore } from './event-store/port.ts';

/** What an append wrote, as far as deciding who should look at the log again is concerned. */
export interface Appended {
  stream: string;
  types: string[];
}

/** Wraps a store so this process's successful appends ring a bell: projections wake without polling. */
export const observeAppends = (store: EventStore): { store: EventStore; appended$: Subject<Appended> } => {
  const appended$ = new Subject<Appended>();
  const observed: EventStore = {
    kind: store.kind,
    append: async (stream, events, options) => {
      const result = await store.append(stream, events, options);
      if (events.length > 0) appended$.next({ stream, types: events.map((e) => e.type) });
      return result;
    },
    ...(store.appendLinked
      ? {
          appendLinked: async (items) => {
            const results = await store.appendLinked!(items);
            for (const { stream, events } of items)
              if (events.length > 0) appended$.next({ stream, types: events.map((e) => e.type) });
            return results;
          },
        }
      : {}),
    readStream: (stream, options) => store.readStream(stream, options),
    readStreams: (streams) => store.readStreams(streams),
    readAll: (options) => store.readAll(options),
    ...(store.head ? { head: () => store.head!() } : {}),
    subscribeAll: (options) => store.subscribeAll(options),
    close: () => store.close(),
  };
  return { store: observed, appended$ };
};
