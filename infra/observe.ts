import { Subject } from 'rxjs';
import type { EventStore } from './event-store/port.ts';

/** Wraps a store so this process's successful appends ring a bell: projections wake without polling. */
export const observeAppends = (store: EventStore): { store: EventStore; appended$: Subject<void> } => {
  const appended$ = new Subject<void>();
  const observed: EventStore = {
    kind: store.kind,
    append: async (stream, events, options) => {
      const result = await store.append(stream, events, options);
      appended$.next();
      return result;
    },
    readStream: (stream, options) => store.readStream(stream, options),
    readStreams: (streams) => store.readStreams(streams),
    readAll: (options) => store.readAll(options),
    subscribeAll: (options) => store.subscribeAll(options),
    close: () => store.close(),
  };
  return { store: observed, appended$ };
};
