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
}

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
  close(): Promise<void>;
}
