/** The projection runner: migrates, catches up and follows the log, each batch with its checkpoint. */
import { type Observable, Subscription } from 'rxjs';
import type { RecordedEvent } from '../events/envelope.ts';
import { type EventStore, matchesFilter } from '../infra/event-store/port.ts';
import type { InlineProjection } from '../infra/event-store/sql.ts';
import type { Appended } from '../infra/observe.ts';
import type { SqlDatabase } from '../infra/sql/port.ts';
import type { Projection } from './projection.ts';
import { type ReadAll, sharedReads } from './shared-reads.ts';

const BOOKKEEPING = `
CREATE TABLE IF NOT EXISTS projection_checkpoints (
  name text PRIMARY KEY, position bigint NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS read_model_migrations (
  projection text NOT NULL, step int NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (projection, step));`;

/** Runs the projection's migrations not yet applied; safe to call from several processes at once. */
export const migrateProjection = async (db: SqlDatabase, projection: Projection): Promise<void> => {
  await db.exec(BOOKKEEPING);
  await db.transaction(async (tx) => {
    // Serialise concurrent start-ups of the same projection (PGlite has one connection: nothing to race).
    if (db.kind === 'postgres')
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [projection.name]);
    const done = await tx.query<{ step: number }>(
      'SELECT step FROM read_model_migrations WHERE projection = $1',
      [projection.name],
    );
    const applied = new Set(done.map((r) => Number(r.step)));
    for (const [step, script] of projection.migrations.entries()) {
      if (applied.has(step)) continue;
      for (const statement of splitStatements(script)) await tx.query(statement);
      await tx.query('INSERT INTO read_model_migrations (projection, step) VALUES ($1, $2)', [
        projection.name,
        step,
      ]);
    }
    await tx.query('INSERT INTO projection_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING', [
      projection.name,
    ]);
  });
};

// Extended-protocol queries take one statement each; migrations are plain DDL without bodies containing ';'.
const splitStatements = (script: string) =>
  script
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter(Boolean);

export interface CatchUpResult {
  applied: number;
  position: number;
  /** What was applied. */
  events: RecordedEvent[];
  /** Events read for the batch (applied, or left to another copy that got there first). */
  read: number;
}

/**
 * Applies one batch after the checkpoint, the read-model changes and the new checkpoint in one transaction,
 * so each event changes the read model exactly once even across crashes. Events are read before the
 * transaction opens (PGlite has a single connection) and the checkpoint is re-checked under a row lock:
 * a second copy of the projection that got there first makes this batch a no-op, never a double apply.
 */
export const projectBatch = async (
  db: SqlDatabase,
  store: EventStore,
  projection: Projection,
  batchSize = 500,
  /** The checkpoint as the caller last saw it (a running loop): saves reading it; a stale one is caught. */
  knownCheckpoint?: number,
  /** How the log is read: the store's readAll, or pages shared with other projections (shared-reads.ts). */
  readAll: ReadAll = (options) => store.readAll(options),
  /** Where to read from when the caller knows nothing matches between the checkpoint and it (a loop). */
  readAfter?: number,
): Promise<CatchUpResult> => {
  let from = knownCheckpoint;
  if (from === undefined) {
    const [row] = await db.query<{ position: string }>(
      'SELECT position FROM projection_checkpoints WHERE name = $1',
      [projection.name],
    );
    from = Number(row?.position ?? 0);
  }
  const events = await readAll({ after: readAfter ?? from, maxCount: batchSize, filter: projection.filter });
  if (events.length === 0) return { applied: 0, position: from, events: [], read: 0 };
  const to = events[events.length - 1]!.position;
  let actual = from;
  const applied = await db.transaction(async (tx) => {
    const locked = await tx.query<{ position: string }>(
      `SELECT position FROM projection_checkpoints WHERE name = $1 FOR UPDATE${db.kind === 'postgres' ? ' SKIP LOCKED' : ''}`,
      [projection.name],
    );
    if (locked.length > 0) actual = Number(locked[0]!.position);
    if (locked.length === 0 || actual !== from) return 0;
    if (projection.applyBatch) await projection.applyBatch(events, tx);
    else for (const event of events) await projection.apply(event, tx);
    await tx.query('UPDATE projection_checkpoints SET position = $2, updated_at = now() WHERE name = $1', [
      projection.name,
      to,
    ]);
    return events.length;
  });
  // Not applied: `actual` is where another copy (or the table) says the checkpoint is.
  return { applied, position: applied ? to : actual, events: applied ? events : [], read: events.length };
};

/** Applies batches until the projection has caught up with the log as it is now. */
export const catchUp = async (
  db: SqlDatabase,
  store: EventStore,
  projection: Projection,
): Promise<number> => {
  let total = 0;
  for (;;) {
    const { applied } = await projectBatch(db, store, projection);
    if (applied === 0) return total;
    total += applied;
  }
};

/**
 * Catches up until `done()` holds (a row the caller just wrote the events for): on PostgreSQL an event is
 * readable by readAll only once the transactions older than it have ended, so one catch-up may miss it.
 */
export const catchUpUntil = async (
  db: SqlDatabase,
  store: EventStore,
  projection: Projection,
  done: () => Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> => {
  for (const deadline = Date.now() + timeoutMs; ; ) {
    await catchUp(db, store, projection);
    if (await done()) return;
    if (Date.now() > deadline) throw new Error(`${what} never reached the read model ${projection.name}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

/** The projection as the event store applies it inside an append (infra/event-store/sql.ts). */
export const inlineProjection = (projection: Projection): InlineProjection => ({
  name: projection.name,
  ...(projection.filter ? { filter: projection.filter } : {}),
  ...(projection.prefetch ? { prefetch: projection.prefetch } : {}),
  applyBatch: async (events, tx, prefetched) => {
    if (projection.applyBatch) return projection.applyBatch(events, tx, prefetched);
    for (const event of events) await projection.apply(event, tx);
  },
});

/**
 * A projection the store keeps inline from now on: once per database, whatever the runner had not applied
 * yet is caught up first (a database that ran it asynchronously before). Inline writes do not move the
 * checkpoint, so this is marked done for good; the projection skips what it has applied either way.
 */
export const adoptInline = async (db: SqlDatabase, store: EventStore, projection: Projection) => {
  const marker = `${projection.name}:inline`;
  const [done] = await db.query('SELECT 1 FROM projection_checkpoints WHERE name = $1', [marker]);
  if (done) return;
  await catchUp(db, store, projection);
  await db.query('INSERT INTO projection_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING', [marker]);
};

/** Drops the read model, replays the whole log into it, and leaves it caught up. */
export const rebuild = async (
  db: SqlDatabase,
  store: EventStore,
  projection: Projection,
): Promise<number> => {
  await db.exec(BOOKKEEPING);
  await db.transaction(async (tx) => {
    for (const table of projection.tables) await tx.query(`DROP TABLE IF EXISTS ${table} CASCADE`);
    await tx.query('DELETE FROM read_model_migrations WHERE projection = $1', [projection.name]);
    await tx.query('DELETE FROM projection_checkpoints WHERE name = $1', [projection.name]);
  });
  await migrateProjection(db, projection);
  return catchUp(db, store, projection);
};

export interface RunningProjections {
  stop(): Promise<void>;
}

/** Whether an append may have written events the projection reads (unknown appends concern everyone). */
const concerns = (projection: Projection, appended: Appended | undefined): boolean => {
  if (!appended) return true;
  return appended.types.some((type) => matchesFilter(projection.filter, { stream: appended.stream, type }));
};

/**
 * Keeps projections caught up: a batch right after a non-empty one, otherwise wait for a wake signal
 * (an append announced in this process, or another process's NOTIFY) or the poll interval.
 */
export const runProjections = (
  db: SqlDatabase,
  store: EventStore,
  projections: Projection[],
  options: {
    /** An append somewhere: what it wrote when known (this process's), so only concerned projections look. */
    wake?: Observable<Appended | undefined>;
    pollMs?: number;
    onError?: (error: unknown, projection: string) => void;
    /** Told after each batch a projection commits, with the batch's events. */
    onCommitted?: (projection: string, events: RecordedEvent[]) => void;
  } = {},
): RunningProjections => {
  let stopped = false;
  // One loop per projection: a busy or slow one (embedding skills, say) never holds up another.
  const loops = projections.map((projection) => ({
    projection,
    /** When an append concerning it was last announced (also while it was busy). */
    announcedAt: 0,
    wake: null as (() => void) | null,
  }));
  const subscription =
    options.wake?.subscribe((appended) => {
      for (const l of loops) {
        if (!concerns(l.projection, appended)) continue;
        l.announcedAt = Date.now();
        l.wake?.();
      }
    }) ?? new Subscription();
  const sleep = (l: (typeof loops)[number], ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => l.wake?.(), ms);
      l.wake = () => {
        clearTimeout(timer);
        l.wake = null;
        resolve();
      };
    });
  const pollMs = options.pollMs ?? 100;
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const shared = sharedReads(store);
  const loop = async (l: (typeof loops)[number]) => {
    const { projection } = l;
    const delayMs = projection.batchDelayMs ?? 0;
    // One that may lag gathers bigger batches: under load the appends of a pause fill one batch, not four,
    // and its statements cost per batch, not per event (grouped upserts, buffered lineage writes). Those
    // also share their reads of the log.
    const batchSize = delayMs > 0 ? 2000 : 500;
    const read = delayMs > 0 ? shared : undefined;
    let lastApplied = 0;
    let retryMs = 1;
    let checkpoint: number | undefined;
    // Where the next read starts: the checkpoint, or past it when an idle look found nothing matching up
    // to the log's head. A projection whose events are rare (tenants, agents) would otherwise read the
    // whole log after its last event on every look: 235 ms a second on PostgreSQL at 400,000 events.
    let cursor: number | undefined;
    while (!stopped) {
      let progressed = false;
      try {
        // Read before the batch: whatever is below it and matches, the batch's read (later) sees.
        const head = lastApplied === 0 && store.head ? await store.head() : undefined;
        const {
          applied,
          events,
          position,
          read: taken,
        } = await projectBatch(db, store, projection, batchSize, checkpoint, read, cursor);
        checkpoint = position;
        // Nothing matched up to the head; events applied move it; a batch another copy applied: start over.
        cursor = taken === 0 ? (head ?? cursor) : applied > 0 ? position : undefined;
        lastApplied = applied;
        if (applied > 0) {
          progressed = true;
          options.onCommitted?.(projection.name, events);
        }
      } catch (error) {
        checkpoint = undefined; // read it again: the failure may have been anywhere
        cursor = undefined;
        options.onError?.(error, projection.name);
      }
      if (progressed || stopped) {
        retryMs = 1;
        // Caught up (a batch short of full): let the next appends gather instead of a batch per append.
        if (delayMs > 0 && !stopped && batchSize > lastApplied) await pause(delayMs);
        continue;
      }
      // An announced append may not be readable yet: a transaction older than it was still open (the
      // visibility rule of infra/event-store/postgres.ts). Look again soon, not at the next poll.
      const expecting = Date.now() - l.announcedAt < 2000;
      retryMs = expecting ? Math.min(retryMs * 2, 100) : 1;
      await sleep(l, expecting ? retryMs : pollMs);
      if (delayMs > 0 && !stopped && !expecting) await pause(delayMs);
    }
  };
  const running = Promise.all(loops.map(loop));
  return {
    async stop() {
      stopped = true;
      subscription.unsubscribe();
      for (const l of loops) l.wake?.();
      await running;
    },
  };
};
