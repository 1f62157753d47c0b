/**
 * An event store that reads every event at this build's schema version: old events come back through their
 * upcasters (events/upcasting.ts), on every read and subscription, and new events are written with the
 * current version. The log itself is never rewritten.
 */
import type { NewEvent, RecordedEvent } from '../../events/envelope.ts';
import type { EventSchemaRegistry } from '../../events/upcasting.ts';
import type { EventStore, Subscription } from './port.ts';

/**
 * @example
 * const store = upcastingStore(await createPostgresEventStore({ sql }), currentSchemas);
 * await store.readStream('task-1'); // a v1 TaskSubmitted in the log reads as the current version
 */
export const upcastingStore = (store: EventStore, schemas: EventSchemaRegistry): EventStore => {
  const up = (events: RecordedEvent[]) => events.map((e) => schemas.upcast(e));
  // In place: a caller that builds its own view of what it wrote (handle(), the task recorder) reads the
  // version the store was given from the event it passed.
  const stamped = (events: NewEvent[]) => {
    for (const e of events) e.schemaVersion ??= schemas.currentVersion(e.type);
    return events;
  };
  return {
    kind: store.kind,
    append: (stream, events, options) => store.append(stream, stamped(events), options),
    ...(store.appendLinked
      ? {
          appendLinked: (items) =>
            store.appendLinked!(items.map((i) => ({ ...i, events: stamped(i.events) }))),
        }
      : {}),
    readStream: async (stream, options) => up(await store.readStream(stream, options)),
    readStreams: async (streams) =>
      new Map([...(await store.readStreams(streams))].map(([stream, events]) => [stream, up(events)])),
    readAll: async (options) => up(await store.readAll(options)),
    ...(store.head ? { head: () => store.head!() } : {}),
    subscribeAll: (options): Subscription => {
      const subscription = store.subscribeAll(options);
      return {
        close: () => subscription.close(),
        async *[Symbol.asyncIterator]() {
          for await (const event of subscription) yield schemas.upcast(event);
        },
      };
    },
    close: () => store.close(),
  };
};
