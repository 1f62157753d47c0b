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
  apply(event: RecordedEvent, tx: SqlExecutor): Promise<void>;
  /** The same as apply() on each event in order, in fewer statements (the runner prefers it). */
  applyBatch?(events: RecordedEvent[], tx: SqlExecutor): Promise<void>;
}
