/** Event schema versions: upcasters bring an event written with an older schema to the current one. */
import type { RecordedEvent } from './envelope.ts';

/** Turns the data of one schema version of an event type into the next version's shape. */
export type Upcaster = (data: unknown) => unknown;

export interface EventSchemaRegistry {
  /** The version new events of this type are written with. */
  currentVersion(type: string): number;
  /** Brings an event written with an older schema up to the current one; newer-than-known versions are refused. */
  upcast<E extends RecordedEvent>(event: E): E;
}

/**
 * upcasters[type][v] converts version v to v + 1. Stored events are never rewritten: old shapes are read
 * back through the chain, so the log stays an honest record of what was written.
 */
export const schemaRegistry = (upcasters: Record<string, Record<number, Upcaster>>): EventSchemaRegistry => {
  // Every event read goes through upcast(): the current versions are worked out once.
  const versions = new Map(
    Object.entries(upcasters).map(([type, steps]) => [
      type,
      Math.max(1, ...Object.keys(steps).map((v) => Number(v) + 1)),
    ]),
  );
  const current = (type: string): number => versions.get(type) ?? 1;
  return {
    currentVersion: current,
    upcast(event) {
      const target = current(event.type);
      if (event.schemaVersion > target) {
        throw new Error(`${event.type} v${event.schemaVersion} is newer than this build knows (v${target})`);
      }
      let data = event.data;
      for (let v = event.schemaVersion; v < target; v++) {
        const step = upcasters[event.type]?.[v];
        if (!step) throw new Error(`no upcaster for ${event.type} from v${v}`);
        data = step(data);
      }
      return target === event.schemaVersion ? event : { ...event, data, schemaVersion: target };
    },
  };
};

/**
 * This build's event schemas: every read path (the store's reads and subscriptions, bus deliveries, the
 * projections, `/api/events`) brings events up to these versions, and new events are written with them.
 * When an event's shape changes, its upcaster from the old version goes here, e.g.
 * `TaskSubmitted: { 1: (v1) => ({ ...v1, priority: 'normal' }) }`, and new events are written as v2.
 */
export const currentSchemas: EventSchemaRegistry = schemaRegistry({});
