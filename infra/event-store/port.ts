/** The event store port: append with an expected revision, read streams and the log, subscribe to the log. */
import type { NewEvent, RecordedEvent } from '../../events/envelope.ts';

/** Optimistic concurrency: what the writer believes about the stream before appending. */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | number;

export interface AppendResult {
  /** Revision of the last event now in the stream. */
  nextExpectedRevision: number;
  /** Global positions of the appended (or, on an idempotent re-append, the already stored) events. */
  positions: number[];
}

export interface LinkedAppend {
  stream: string;
  events: NewEvent[];
  expectedRevision?: ExpectedRevision;
}

export interface ReadStreamOptions {
  direction?: 'forwards' | 'backwards';
  /** Inclusive; defaults to the start (forwards) or the end (backwards). */
  fromRevision?: number;
  maxCount?: number;
}

export interface AllFilter {
  types?: string[];
  streamPrefix?: string;
  /**
   * Only events whose metadata names this tenant. The SQL stores filter in the query, over an index
   * (one tenant's subscription never reads another's events); EventStoreDB filters in the client.
   */
  tenant?: string;
  /** Only events of this correlation (metadata `correlationId`): one task's, one workflow run's... */
  correlationId?: string;
}

/** Whether an event passes the filter (absent fields pass everything; tenant and correlation need metadata). */
export const matchesFilter = (
  filter: AllFilter | undefined,
  e: { stream: string; type: string; metadata?: { tenant?: string; correlationId?: string } },
): boolean =>
  (!filter?.streamPrefix || e.stream.startsWith(filter.streamPrefix)) &&
  (!filter?.types || filter.types.includes(e.type)) &&
  (filter?.tenant === undefined || e.metadata?.tenant === filter.tenant) &&
  (filter?.correlationId === undefined || e.metadata?.correlationId === filter.correlationId);

export interface ReadAllOptions {
  /** Exclusive: only events after the event at this position in log order. 0 (or absent) means the start. */
  after?: number;
  maxCount?: number;
  filter?: AllFilter;
}

export interface SubscribeOptions extends Omit<ReadAllOptions, 'maxCount'> {
  /**
   * Events per read of the log (default: the store's own, 500 on the SQL stores). A subscription holds at
   * most one page in memory and reads the next only when its consumer has taken the last event, so this
   * bounds what a slow consumer costs.
   */
  pageSize?: number;
  /**
   * Bytes of event data per read at most (default: the store's own, 4 MiB on the SQL stores; the first
   * event always comes): smaller pages keep each read and its parsing a short slice of the process's time.
   */
  pageBytes?: number;
  /**
   * Runs each read of the log, so a caller can share read capacity between subscribers (fairly between
   * tenants, say). The SQL stores read through it; EventStoreDB pushes events and has no reads to gate.
   */
  readGate?: <T>(read: () => Promise<T>) => Promise<T>;
}

export interface Subscription extends AsyncIterable<RecordedEvent> {
  close(): Promise<void>;
}

export interface EventStore {
  readonly kind: string;
  append(
    stream: string,
    events: NewEvent[],
    options?: { expectedRevision?: ExpectedRevision },
  ): Promise<AppendResult>;
  /**
   * Appends to several streams at once, all or nothing (one transaction): where the store can (PostgreSQL,
   * PGlite; absent on EventStoreDB). A refused item (its expected revision, an id stored elsewhere) throws
   * its error and nothing of the group is written; an item whose events are all there already is replayed.
   */
  appendLinked?(items: LinkedAppend[]): Promise<AppendResult[]>;
  /** Events of one stream; an unknown stream reads as []. */
  readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /** Several whole streams in one go (one round trip where the store can): a stream it does not hold is []. */
  readStreams(streams: string[]): Promise<Map<string, RecordedEvent[]>>;
  /** Events of every stream, in log order. */
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /**
   * The position of the newest event that readAll can return now (0: none), where the store can tell
   * cheaply (the SQL stores; absent on EventStoreDB). A filtered reader that then reads nothing knows that
   * nothing before it matches, and need not read those events again (projections/runner.ts).
   */
  head?(): Promise<number>;
  /** Catch-up from `after`, then live, in log order, each event once. */
  subscribeAll(options?: SubscribeOptions): Subscription;
  close(): Promise<void>;
}

export class ConcurrencyError extends Error {
  override readonly name = 'ConcurrencyError';
  constructor(
    readonly stream: string,
    readonly expected: ExpectedRevision,
    readonly actual: number | 'no_stream',
  ) {
    super(`stream ${stream}: expected revision ${expected}, actual ${actual}`);
  }
}

/** The same event id was appended earlier with different content or to a different place. */
export class DuplicateEventError extends Error {
  override readonly name = 'DuplicateEventError';
  constructor(readonly eventId: string) {
    super(`event ${eventId} is already stored elsewhere in the log`);
  }
}

export const revisionMatches = (expected: ExpectedRevision, actual: number | 'no_stream'): boolean => {
  if (expected === 'any') return true;
  if (expected === 'no_stream') return actual === 'no_stream';
  if (expected === 'stream_exists') return actual !== 'no_stream';
  return actual === expected;
};
