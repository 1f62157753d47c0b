/** What a projection is: its tables' migrations, the event types it reads and how it applies them. */
import type { RecordedEvent } from '../events/envelope.ts';
import type { AllFilter } from '../infra/event-store/port.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';

/** A read model: SQL it owns, and how each event changes it. Nothing else writes its tables. */
export interface Projection {
  name: string;
  /** Applied in order, once each, recorded in read_model_migrations; append new ones, never edit old ones. */
  migrations: string[];
  /** Tables the projection owns: dropped on rebuild. */
  tables: string[];
  filter?: AllFilter;
  /**
   * Kept inside the append transaction where the event store and the read models share a database
   * (infra/event-store/sql.ts `inline`), so it is never behind the log; elsewhere the runner keeps it like
   * any other. Its apply must then skip what it has already applied (it sees an event once inline, and
   * again on a catch-up or rebuild).
   */
  inline?: boolean;
  /**
   * A read model that may lag a little (metrics, lineage, audit): once caught up, the runner waits this long
   * before the next batch, so the appends of that window make one transaction instead of one each. Under
   * load that is most of the difference between the projections costing the hot path's database (PGlite has
   * one thread) a transaction per append or a few per second. Absent: the next batch at once.
   */
  batchDelayMs?: number;
  apply(event: RecordedEvent, tx: SqlExecutor): Promise<void>;
  /**
   * The same as apply() on each event in order, in fewer statements (the runner prefers it). `prefetched`
   * is what prefetch() read for this batch, when the projection runs inline.
   */
  applyBatch?(events: RecordedEvent[], tx: SqlExecutor, prefetched?: unknown): Promise<void>;
  /** Inline only: reads what applyBatch needs for these streams in the append's round trip. */
  prefetch?(streams: string[], tx: SqlExecutor): Promise<unknown>;
}
