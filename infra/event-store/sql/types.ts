/** What the SQL event store is made of: the driver an adapter supplies, the options, inline projections. */
import type { RecordedEvent } from '../../../events/envelope.ts';
import type { SqlExecutor } from '../../sql/port.ts';
import type { AllFilter } from '../port.ts';

/** The little an adapter has to provide. Queries use $n placeholders; results are plain rows. */
export interface SqlDriver {
  /** `oneOff`: plan for these parameters, not once for all (a statement whose best plan depends on them). */
  query(text: string, params: unknown[], options?: { oneOff?: boolean }): Promise<Record<string, unknown>[]>;
  /** A multi-statement script, run as one implicit transaction (simple query protocol). */
  exec(script: string): Promise<void>;
  /** Runs `fn` in one transaction (its queries on one connection); rolls back if it throws. */
  transaction<T>(fn: (query: SqlDriver['query']) => Promise<T>): Promise<T>;
  /**
   * LISTEN on `channel`; `onNotify` runs for every notification (with its payload), and with '' after
   * every (re)connection of the listening connection. Resolves once listening, with a function that
   * stops listening.
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
}

export interface SqlStoreOptions {
  /** Safety-net poll of live subscriptions, in ms (default 500). Notifications normally wake them sooner. */
  pollIntervalMs?: number;
  /** Events per catch-up query of a subscription (default 500). */
  pageSize?: number;
  /** Payload of this store's NOTIFYs (default a random uuid): lets its process tell its own from others'. */
  origin?: string;
  /** NOTIFY after appends (default true); false when this is the database's only store (embedded). */
  notify?: boolean;
  /**
   * Read models kept in the append's own transaction (the same database): they change exactly when the
   * events are written, so nothing waits for them and nothing can see the one without the other.
   */
  inline?: InlineProjection[];
  /** Appends combined into one statement at most (default 200). */
  maxBatch?: number;
  /** Batches in flight at once (default 2, measured best on 2 cores; 1 for a single-connection database). */
  maxInFlight?: number;
  /**
   * ANALYZE the events table as autovacuum would (after 500 events plus 10% of the table were written), for
   * a database without autovacuum (PGlite). Without statistics the planner takes one tenant's page of the
   * log for a couple of rows and reads all of that tenant's events, then sorts them, for every page.
   */
  autoAnalyze?: boolean;
}

/** A projection applied inside the append transaction (projections/projection.ts fits this shape). */
export interface InlineProjection {
  name: string;
  filter?: AllFilter;
  /**
   * Reads what applyBatch will need, for the streams the batch may write; sent in the same round trip as
   * the append (it runs after it, under the streams' locks), so reading costs no extra round trip.
   */
  prefetch?(streams: string[], tx: SqlExecutor): Promise<unknown>;
  applyBatch(events: RecordedEvent[], tx: SqlExecutor, prefetched?: unknown): Promise<void>;
}

/** The database and the schema (quoted) the store's statements run on. */
export interface SqlContext {
  driver: SqlDriver;
  /** The schema, quoted for SQL text. */
  s: string;
}
