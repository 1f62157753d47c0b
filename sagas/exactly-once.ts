/** Exactly-once effects for consumers: the effect and the event's processed mark commit together. */
import type { RecordedEvent } from '../events/envelope.ts';
import type { ConsumerOptions, SubjectFilter } from '../infra/bus/port.ts';
import type { SqlDatabase, SqlExecutor } from '../infra/sql/port.ts';

/** A bus consumer whose effect is a database change: applied exactly once per event, whatever the bus redelivers. */
export interface TransactionalConsumer {
  durable: string;
  filter?: SubjectFilter;
  maxAckPending?: number;
  apply(event: RecordedEvent, tx: SqlExecutor): Promise<void>;
}

export const PROCESSED_EVENTS_DDL = `CREATE TABLE IF NOT EXISTS processed_events (
  consumer text NOT NULL, event_id text NOT NULL, processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id))`;

/**
 * The effect and the "processed" mark commit together. A redelivered event finds its mark and is acked
 * without effect; two copies handed the same event race on the primary key, and the loser's insert waits
 * for the winner's commit and then does nothing.
 */
export const exactlyOnce = (db: SqlDatabase, consumer: TransactionalConsumer): ConsumerOptions => ({
  durable: consumer.durable,
  filter: consumer.filter,
  maxAckPending: consumer.maxAckPending,
  handler: async ({ event }) => {
    await db.transaction(async (tx) => {
      const fresh = await tx.query(
        'INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1',
        [consumer.durable, event.id],
      );
      if (fresh.length > 0) await consumer.apply(event, tx);
    });
  },
});
