/**
 * EventStoreDB / KurrentDB event store (@eventstore/db-client 6, gRPC). Cannot run on the project's
 * machines (no server); exercised by test/contract/event-store-eventstoredb.test.ts when EVENTSTORE_URL
 * points at a real server.
 *
 * Mapping:
 * - expected revision: 'any' -> ANY, 'no_stream' -> NO_STREAM, 'stream_exists' -> STREAM_EXISTS, n -> BigInt(n);
 *   WrongExpectedVersionError -> ConcurrencyError with the actual revision.
 * - metadata: our envelope metadata plus `$correlationId` / `$causationId` (so the server's
 *   by-correlation projection works) and `$schemaVersion`; keys starting with `$` are dropped on read.
 * - occurredAt: the server's `created` timestamp. position: the event's commit position as a number.
 * - readAll / subscribeAll skip system events (`$` streams and types). `after` becomes the $all position
 *   { commit: after, prepare: after }, and events at or before it are skipped.
 *
 * Differences from the SQL stores, inherent to the server:
 * - EventStoreDB does not index event ids across the log: an id reused in another stream is NOT detected
 *   (no DuplicateEventError), and an idempotent re-append is recognised by the server only with the
 *   original expected revision or 'any' (within its idempotency window).
 * - Positions assume each event has its own commit position (commit == prepare), which is what a gRPC
 *   append produces on current servers; the per-event positions of a multi-event append and the positions
 *   returned by readStream need a server >= 22.6 (older ones give -1 for readStream).
 * - A filter with both `types` and `streamPrefix` is applied on the server by stream prefix and on the
 *   client by type (the server takes one filter per read).
 * - A `tenant` filter is applied in this process: the tenant is in each event's metadata, which the server
 *   cannot filter on (a per-tenant stream would need a server-side projection). So a tenant's subscription
 *   reads, and drops, the other tenants' events here; it still holds one event at a time (the gRPC stream
 *   is flow-controlled: nothing more is read while the consumer has not taken the last event), and
 *   `pageSize` is not used.
 */
import {
  type AllStreamRecordedEvent,
  ANY,
  type AppendExpectedRevision,
  BACKWARDS,
  type RecordedEvent as DbRecordedEvent,
  END,
  EventStoreDBClient,
  eventTypeFilter,
  excludeSystemEvents,
  type Filter,
  FORWARDS,
  type JSONType,
  jsonEvent,
  NO_STREAM,
  type Position,
  START,
  STREAM_EXISTS,
  StreamNotFoundError,
  streamNameFilter,
  WrongExpectedVersionError,
} from '@eventstore/db-client';
import type { EventMetadata, NewEvent, RecordedEvent } from '../../events/envelope.ts';
import {
  type AllFilter,
  type AppendResult,
  ConcurrencyError,
  type EventStore,
  type ExpectedRevision,
  matchesFilter,
  type ReadAllOptions,
  type ReadStreamOptions,
  type SubscribeOptions,
  type Subscription,
} from './port.ts';

const DEFAULT_READ_ALL_MAX = 1000;

const toExpected = (e: ExpectedRevision): AppendExpectedRevision =>
  e === 'any' ? ANY : e === 'no_stream' ? NO_STREAM : e === 'stream_exists' ? STREAM_EXISTS : BigInt(e);

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const isSystem = (e: { streamId: string; type: string }) =>
  e.streamId.startsWith('$') || e.type.startsWith('$');

const toMetadata = (e: NewEvent) => ({
  ...e.metadata,
  $correlationId: e.metadata.correlationId,
  ...(e.metadata.causationId ? { $causationId: e.metadata.causationId } : {}),
  $schemaVersion: e.schemaVersion ?? 1,
});

const toRecordedEvent = (e: DbRecordedEvent, position: Position | undefined): RecordedEvent => {
  const raw = (e.metadata ?? {}) as Record<string, unknown>;
  const metadata = Object.fromEntries(
    Object.entries(raw).filter(([k]) => !k.startsWith('$')),
  ) as EventMetadata;
  return {
    id: e.id,
    stream: e.streamId,
    revision: Number(e.revision),
    position: position ? Number(position.commit) : -1,
    type: e.type,
    schemaVersion: typeof raw.$schemaVersion === 'number' ? raw.$schemaVersion : 1,
    occurredAt: e.created.toISOString(),
    data: e.data,
    metadata,
  };
};

/** The event as ours when it is after `after`, not a system event and passes the filter; else null. */
const ours = (
  e: AllStreamRecordedEvent | undefined,
  after: number,
  filter: AllFilter | undefined,
): RecordedEvent | null => {
  if (!e || Number(e.position.commit) <= after || isSystem(e)) return null;
  const event = toRecordedEvent(e, e.position);
  return matchesFilter(filter, event) ? event : null;
};

class EventStoreDbStore implements EventStore {
  readonly kind = 'eventstoredb';
  readonly #client: EventStoreDBClient;
  readonly #subscriptions = new Set<Subscription>();
  #closed = false;

  constructor(client: EventStoreDBClient) {
    this.#client = client;
  }

  async append(
    stream: string,
    events: NewEvent[],
    options: { expectedRevision?: ExpectedRevision } = {},
  ): Promise<AppendResult> {
    const expected = options.expectedRevision ?? 'any';
    const data = events.map((e) =>
      jsonEvent({ id: e.id, type: e.type, data: (e.data ?? null) as JSONType, metadata: toMetadata(e) }),
    );
    let result: Awaited<ReturnType<EventStoreDBClient['appendToStream']>>;
    try {
      result = await this.#client.appendToStream(stream, data, { expectedRevision: toExpected(expected) });
    } catch (err) {
      if (err instanceof WrongExpectedVersionError) {
        const actual = err.actualVersion;
        throw new ConcurrencyError(stream, expected, actual === NO_STREAM ? 'no_stream' : Number(actual));
      }
      throw err;
    }
    const next = Number(result.nextExpectedRevision);
    if (events.length === 0) return { nextExpectedRevision: next, positions: [] };
    if (events.length === 1 && result.position) {
      return { nextExpectedRevision: next, positions: [Number(result.position.commit)] };
    }
    // The server reports the last event's position only: read the batch back for each event's position.
    const batch = await this.readStream(stream, {
      fromRevision: next - events.length + 1,
      maxCount: events.length,
    });
    return { nextExpectedRevision: next, positions: batch.map((e) => e.position) };
  }

  async readStreams(streams: string[]): Promise<Map<string, RecordedEvent[]>> {
    const unique = [...new Set(streams)];
    const read = await Promise.all(unique.map((s) => this.readStream(s)));
    return new Map(unique.map((s, i) => [s, read[i]!]));
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    if (options.maxCount === 0) return [];
    const backwards = options.direction === 'backwards';
    const out: RecordedEvent[] = [];
    try {
      for await (const resolved of this.#client.readStream(stream, {
        direction: backwards ? BACKWARDS : FORWARDS,
        fromRevision:
          options.fromRevision === undefined ? (backwards ? END : START) : BigInt(options.fromRevision),
        ...(options.maxCount === undefined ? {} : { maxCount: options.maxCount }),
      })) {
        const e = resolved.event;
        if (e) out.push(toRecordedEvent(e, e.position));
      }
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw err;
    }
    return out;
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const after = options.after ?? 0;
    const max = options.maxCount ?? DEFAULT_READ_ALL_MAX;
    if (max === 0) return [];
    const out: RecordedEvent[] = [];
    const read = this.#client.readAll({
      direction: FORWARDS,
      fromPosition: after > 0 ? { commit: BigInt(after), prepare: BigInt(after) } : START,
      resolveLinkTos: false,
    });
    try {
      for await (const resolved of read) {
        const event = ours(resolved.event as AllStreamRecordedEvent | undefined, after, options.filter);
        if (!event) continue;
        out.push(event);
        if (out.length >= max) break;
      }
    } finally {
      await read.cancel().catch(() => {});
    }
    return out;
  }

  subscribeAll(options: SubscribeOptions = {}): Subscription {
    if (this.#closed) throw new Error('event store is closed');
    const after = options.after ?? 0;
    const filter = options.filter;
    const serverFilter: Filter = filter?.streamPrefix
      ? streamNameFilter({ prefixes: [filter.streamPrefix] })
      : filter?.types
        ? eventTypeFilter({ regex: `^(?:${filter.types.map(escapeRegex).join('|')})$` })
        : excludeSystemEvents();
    const sub = this.#client.subscribeToAll({
      fromPosition: after > 0 ? { commit: BigInt(after), prepare: BigInt(after) } : START,
      filter: serverFilter,
      resolveLinkTos: false,
    });
    let closed = false;
    const subscriptions = this.#subscriptions;
    async function* run(): AsyncGenerator<RecordedEvent> {
      try {
        for await (const resolved of sub) {
          if (closed) return;
          const event = ours(resolved.event as AllStreamRecordedEvent | undefined, after, filter);
          if (event) yield event;
        }
      } catch (err) {
        if (!closed) throw err;
      } finally {
        subscriptions.delete(subscription);
      }
    }
    const iterator = run();
    const subscription: Subscription = {
      [Symbol.asyncIterator]: () => iterator,
      async close() {
        if (closed) return;
        closed = true;
        subscriptions.delete(subscription);
        await sub.unsubscribe().catch(() => {});
      },
    };
    subscriptions.add(subscription);
    return subscription;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((s) => s.close()));
    await this.#client.dispose();
  }
}

/** `connectionString` as EventStoreDB takes it, e.g. `esdb://localhost:2113?tls=false`. */
export const createEventStoreDbStore = async ({
  connectionString,
}: {
  connectionString: string;
}): Promise<EventStore> => new EventStoreDbStore(EventStoreDBClient.connectionString(connectionString));
