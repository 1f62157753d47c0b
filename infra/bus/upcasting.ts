/**
 * A bus whose consumers receive every event at this build's schema version: deliveries, live feeds and
 * dead letters go through the upcasters (events/upcasting.ts). What is published stays as it was stored,
 * so processes of an older and a newer build can share one bus during a rolling upgrade.
 */
import { map } from 'rxjs';
import type { EventSchemaRegistry } from '../../events/upcasting.ts';
import type { Bus } from './port.ts';

/**
 * @example
 * const bus = upcastingBus(await createJetStreamBus({ servers }), currentSchemas);
 * await bus.consume({ durable: 'routing', handler: async ({ event }) => route(event) }); // current shapes
 */
export const upcastingBus = (bus: Bus, schemas: EventSchemaRegistry): Bus => ({
  kind: bus.kind,
  publish: (events) => bus.publish(events),
  // An event this build cannot read (newer than it knows) fails its handler: redelivered, then dead-lettered.
  consume: (options) =>
    bus.consume({
      ...options,
      handler: (delivery) => options.handler({ ...delivery, event: schemas.upcast(delivery.event) }),
    }),
  lastPublishedPosition: () => bus.lastPublishedPosition(),
  pending: (durable) => bus.pending(durable),
  deadLetters: async (durable) => (await bus.deadLetters(durable)).map((e) => schemas.upcast(e)),
  live: (filter) => bus.live(filter).pipe(map((e) => schemas.upcast(e))),
  close: () => bus.close(),
});
