/** The bus port: publish events, consume them durably by subject filter, watch them live. */
import type { Observable } from 'rxjs';
import { categoryOf, type RecordedEvent } from '../../events/envelope.ts';

/**
 * Subjects: `<ns>.evt.<tenant>.<category>.<stream>.<type>` (ns defaults to `ac`; tests use their own so
 * they can share one server). One wildcard filter selects one tenant (`ac.evt.acme.>`), one aggregate type
 * (`ac.evt.*.task.>`), one stream (`ac.evt.*.*.task-1.*`) or everything (`ac.evt.>`): NATS 2.9 allows a
 * single filter subject per consumer, and this layout needs no more.
 */
const token = (s: string) => s.replace(/[.*>\s]/g, '_');
export const eventSubject = (ns: string, e: Pick<RecordedEvent, 'stream' | 'type' | 'metadata'>): string =>
  `${ns}.evt.${token(e.metadata.tenant)}.${token(categoryOf(e.stream))}.${token(e.stream)}.${token(e.type)}`;
export const filterSubject = (ns: string, f: SubjectFilter = {}): string =>
  f.tenant === undefined && f.category === undefined && f.stream === undefined && f.type === undefined
    ? `${ns}.evt.>`
    : `${ns}.evt.${[f.tenant, f.category, f.stream, f.type].map((t) => (t === undefined ? '*' : token(t))).join('.')}`;
export const deadLetterSubject = (ns: string, durable: string) => `${ns}.dlq.${token(durable)}`;

export interface SubjectFilter {
  tenant?: string;
  category?: string;
  stream?: string;
  type?: string;
}

export interface Delivery {
  event: RecordedEvent;
  subject: string;
  /** 1 on first delivery. */
  deliveryCount: number;
  /** Still working on it: restarts the ack-wait clock, so a long handler is not redelivered to another copy. */
  working(): void;
}

/** How often a long handler calls `working()`: well inside the ack wait, so one late beat loses nothing. */
export const heartbeatMs = (ackWaitMs: number): number => Math.max(50, Math.floor(ackWaitMs / 3));

export interface ConsumerOptions {
  /** Durable name: copies of a role sharing it split the work, and its position survives restarts. */
  durable: string;
  /** Which events; absent fields match anything. Defaults to every event. */
  filter?: SubjectFilter;
  /** Resolve to ack. Throw to nak: redelivered after the backoff, dead-lettered after maxDeliver. */
  handler: (delivery: Delivery) => Promise<void>;
  /**
   * At most this many unacknowledged messages in flight (the bulkhead), across every consumer sharing the
   * durable. Default 256. Handlers of different messages run concurrently up to this bound, so publish order
   * is only guaranteed with maxAckPending = 1 (a nak'd message then holds its slot until it succeeds).
   */
  maxAckPending?: number;
  /** Redeliver if not acked within this many ms (consumer died). Default 30000. */
  ackWaitMs?: number;
  /** Deliveries before the message goes to the dead-letter subject. Default 5. */
  maxDeliver?: number;
  /** Delay before redelivery after a nak, by delivery count (1-based). Default 200ms * 2^(n-1). */
  backoffMs?: (deliveryCount: number) => number;
}

/**
 * One consumer per event type, for a handler that wants a few types of a busy category: NATS 2.9 takes one
 * filter subject per consumer, and filtering on the server spares every other event a delivery and an ack.
 * Durables are `<durable>-<type>`; each has its own maxAckPending.
 */
export const perEventType = (options: ConsumerOptions, types: Iterable<string>): ConsumerOptions[] =>
  [...types].map((type) => ({
    ...options,
    durable: `${options.durable}-${type}`,
    filter: { ...options.filter, type },
  }));

export interface Consumer {
  /** Stops taking messages and waits for the in-flight handlers to settle. */
  stop(): Promise<void>;
}

export interface Bus {
  readonly kind: string;
  /** Publishes in order; a message whose event id was already published (dedup window) is dropped. */
  publish(events: RecordedEvent[]): Promise<void>;
  consume(options: ConsumerOptions): Promise<Consumer>;
  /** Position of the newest event the bus actually holds, or 0 when it holds none: where a relay resumes. */
  lastPublishedPosition(): Promise<number>;
  /**
   * Events matching the durable's filter that it has not acknowledged yet (not delivered, in flight, or
   * waiting for redelivery): its lag. 0 for a durable that does not exist. For metrics, health and tests.
   */
  pending(durable: string): Promise<number>;
  /** Dead-lettered events of a durable, oldest first. */
  deadLetters(durable: string): Promise<RecordedEvent[]>;
  /**
   * Every event published from now on that matches the filter, in publish order, to every subscriber
   * (not shared like a durable; no acks, nothing persisted). For pushing task updates to SSE clients:
   * callers fill gaps from the event store, so a slow subscriber may miss events but never sees them out
   * of order or twice.
   *
   * - Cold: subscribing starts it, unsubscribing stops it. All subscribers of one filter in a process
   *   share one underlying subscription (JetStream: one core NATS subscription per filter subject), opened
   *   by the first and closed when the last leaves: prefer one broad filter (`{ category: 'task' }`) and
   *   dispatch in memory over one filter per stream.
   * - Never twice and never backwards: per stream, an event is passed only if its revision is higher than
   *   the last one passed (NATS also hands core subscribers the re-publishes and refused publishes that
   *   JetStream does not store). So an event is missed, never repeated, when its first publish failed and
   *   its stream moved on before the re-publish. Fill gaps by revision from the store.
   * - Every subscriber of a filter gets the same deep-frozen object per event, decoded once: read-only.
   * - Observers run synchronously as events arrive, in the adapter's delivery path: keep next() cheap (hand
   *   off to an SSE write queue) and never throw (rxjs reports a throwing observer as an uncaught error).
   * - "From now on": in-process, from the subscribe() call. On JetStream the server knows of a new
   *   underlying subscription one round trip later: events published on the same bus (connection) after
   *   subscribe() are delivered; from elsewhere, await JetStreamBus.flush() after subscribing before relying
   *   on it (for example before reading the store to fill the gap).
   * - Completes when the bus closes (at once if it is closed); errors if the underlying subscription fails.
   */
  live(filter?: SubjectFilter): Observable<RecordedEvent>;
  close(): Promise<void>;
}
