/**
 * The SQL event store shared by the PostgreSQL (postgres.js) and PGlite adapters: schema, append function,
 * queries, row mapping and the catch-up-then-live subscription. Each adapter only supplies a `SqlDriver`.
 * The design (and why readers filter on `tx_id < pg_snapshot_xmin(...)`) is explained in postgres.ts.
 */
import { randomUUID } from 'node:crypto';
import type { EventMetadata, NewEvent, RecordedEvent } from '../../events/envelope.ts';
import type { SqlExecutor } from '../sql/port.ts';
import {
  type AllFilter,
  type AppendResult,
  ConcurrencyError,
  DuplicateEventError,
  type EventStore,
  type ExpectedRevision,
  type LinkedAppend,
  matchesFilter,
  type ReadAllOptions,
  type ReadStreamOptions,
  type SubscribeOptions,
  type Subscription,
} from './port.ts';

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

/** One append waiting for its batch. */
interface QueuedAppend {
  stream: string;
  expected: ExpectedRevision;
  /** `g`: the link of an all-or-nothing group (appendLinked). */
  item: { s: string; x: string; r: number | null; e: StoredPayload[]; g?: string };
  attempt: number;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}
interface StoredPayload {
  id: string;
  type: string;
  schemaVersion: number;
  data: unknown;
  metadata: EventMetadata;
}
type ItemResult =
  | { next: number; positions: Array<number | string>; replayed?: boolean; error?: undefined }
  | { error: 'AC001' | 'AC002' | 'AC003'; detail: string }
  /** Another item of its linked group was refused (detail: that item's code): nothing of the group is written. */
  | { error: 'AC004'; detail: 'AC001' | 'AC002' | 'AC003' };

/** An item of a linked group not written because another item of the group was refused. */
class LinkRefused extends Error {}

export const DEFAULT_READ_ALL_MAX = 1000;

export const quoteIdent = (name: string): string => {
  if (name.length === 0 || name.length > 63) throw new TypeError(`invalid schema name "${name}"`);
  return `"${name.replaceAll('"', '""')}"`;
};

/**
 * NOTIFY channel for one schema's events. Lower case [a-z0-9_] only, so it means the same quoted
 * (postgres.js LISTEN) and unquoted (PGlite LISTEN), and at most 63 bytes.
 */
export const channelFor = (schema: string): string => {
  const base = `agentcore_events_${schema.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;
  if (base.length <= 63) return base;
  let h = 0;
  for (const c of schema) h = (Math.imul(h, 31) + c.charCodeAt(0)) | 0;
  return `${base.slice(0, 54)}_${(h >>> 0).toString(16)}`;
};

/** First key of the schema's per-stream advisory locks (the two-int form, apart from single-key users). */
const lockKey = (schema: string): number => {
  let h = 0x811c9dc5;
  for (const c of `agentcore.events:${schema}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  return h | 0;
};

/** Idempotent; safe to run concurrently from several processes (serialised by an advisory lock). */
export const migrationSql = (schema: string): string => {
  const s = quoteIdent(schema);
  const lit = schema.replaceAll("'", "''");
  return `
SELECT pg_advisory_xact_lock(hashtext('agentcore.event-store.migrate'), hashtext('${lit}'));
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.events (
  position bigserial PRIMARY KEY,
  tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
  stream text NOT NULL,
  revision int NOT NULL,
  id uuid NOT NULL,
  type text NOT NULL,
  schema_version int NOT NULL DEFAULT 1,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  data jsonb NOT NULL,
  metadata jsonb NOT NULL,
  CONSTRAINT events_id_unique UNIQUE (id),
  CONSTRAINT events_stream_revision_unique UNIQUE (stream, revision)
);
-- The log order, and what readAll / subscribeAll walk.
CREATE INDEX IF NOT EXISTS events_log_order ON ${s}.events (tx_id, position);
-- Type-filtered reads of the log (projections and sagas interested in a few event types).
CREATE INDEX IF NOT EXISTS events_type_log_order ON ${s}.events (type, tx_id, position);
-- One tenant's reads of the log (GET /api/events): an index range per tenant, so a subscription never
-- reads, let alone parses, another tenant's events.
CREATE INDEX IF NOT EXISTS events_tenant_log_order ON ${s}.events ((metadata->>'tenant'), tx_id, position);
-- append_locked(stream, expected ('any' | 'no_stream' | 'stream_exists' | 'exact'), revision, events jsonb):
-- the body of an append, for a caller that holds the stream's advisory lock. Returns
-- {"next": revision, "positions": [...]} ("replayed": true when every id was already there, in order), or
-- {"error": code, "detail": text} having written nothing:
--   AC001 wrong expected revision (detail: the actual revision, -1 for no stream),
--   AC002 an event id is already stored elsewhere (detail: the id),
--   AC003 retry in a new transaction (see the ordering check below).
-- Errors are returned, not raised, so one batch (append_batch) can refuse one append and keep the others
-- without a subtransaction per append (more than 64 in one transaction slow every reader's snapshot).
-- append_item is its body; with p_write false it only checks, returning {"ok": true} where it would write
-- (a linked group of appends is checked whole before any of it is written).
CREATE OR REPLACE FUNCTION ${s}.append_item(
  p_stream text, p_expected text, p_revision int, p_events jsonb, p_write boolean
) RETURNS jsonb LANGUAGE plpgsql
-- Its lookups (a stream's last event, ids already stored) are index probes whatever the table's size, but
-- plans cached while the table was small (a new deployment's first minute, before autovacuum has analysed
-- it) would scan the whole table on every append as it grows: measured as most of PostgreSQL's CPU.
SET enable_seqscan = off
AS $fn$
DECLARE
  v_n int := jsonb_array_length(p_events);
  v_cur int;
  v_last_tx xid8;
  v_ids uuid[];
  v_found int;
  v_same int;
  v_min_off bigint;
  v_max_off bigint;
  v_last int;
  v_positions jsonb;
  v_dup uuid;
BEGIN
  -- A new statement, so a new snapshot (READ COMMITTED): it sees the previous lock holder's commit.
  SELECT e.revision, e.tx_id INTO v_cur, v_last_tx
    FROM ${s}.events e WHERE e.stream = p_stream ORDER BY e.revision DESC LIMIT 1;
  v_cur := coalesce(v_cur, -1);

  IF v_n > 0 THEN
    -- Idempotent re-append: every id already in this stream, same order, contiguous.
    SELECT array_agg((w.ev->>'id')::uuid ORDER BY w.ord) INTO v_ids
      FROM jsonb_array_elements(p_events) WITH ORDINALITY AS w(ev, ord);
    IF EXISTS (SELECT 1 FROM ${s}.events e WHERE e.id = ANY (v_ids)) THEN
      SELECT count(*), count(*) FILTER (WHERE e.stream = p_stream), min(e.revision - w.ord), max(e.revision - w.ord),
             max(e.revision), jsonb_agg(e.position ORDER BY w.ord), (array_agg(e.id ORDER BY w.ord))[1]
        INTO v_found, v_same, v_min_off, v_max_off, v_last, v_positions, v_dup
        FROM unnest(v_ids) WITH ORDINALITY AS w(id, ord)
        JOIN ${s}.events e ON e.id = w.id;
      IF v_found = v_n AND v_same = v_n AND v_min_off = v_max_off THEN
        RETURN jsonb_build_object('next', v_last, 'positions', v_positions, 'replayed', true);
      END IF;
      RETURN jsonb_build_object('error', 'AC002', 'detail', v_dup::text);
    END IF;
  END IF;

  IF NOT (CASE p_expected
            WHEN 'any' THEN true
            WHEN 'no_stream' THEN v_cur = -1
            WHEN 'stream_exists' THEN v_cur >= 0
            ELSE v_cur = p_revision END) THEN
    RETURN jsonb_build_object('error', 'AC001', 'detail', v_cur::text);
  END IF;
  IF v_n = 0 THEN
    RETURN jsonb_build_object('next', v_cur, 'positions', '[]'::jsonb);
  END IF;
  -- Each stream must stay in revision order in the log order (tx_id, position): this transaction's id
  -- must be above the one that wrote the stream's last event. Always true when the transaction took its
  -- locks before its first write (append_events, append_batch in their own transactions); a transaction
  -- that already had an id before taking the lock may fail it, and must then be retried as a new one.
  IF v_last_tx IS NOT NULL AND pg_current_xact_id() < v_last_tx THEN
    RETURN jsonb_build_object('error', 'AC003', 'detail', '');
  END IF;
  IF NOT p_write THEN
    RETURN jsonb_build_object('ok', true);
  END IF;

  WITH ins AS (
    INSERT INTO ${s}.events (stream, revision, id, type, schema_version, data, metadata)
    SELECT p_stream, v_cur + w.ord::int, (w.ev->>'id')::uuid, w.ev->>'type', (w.ev->>'schemaVersion')::int,
           w.ev->'data', w.ev->'metadata'
      FROM jsonb_array_elements(p_events) WITH ORDINALITY AS w(ev, ord)
     ORDER BY w.ord
    RETURNING position, revision
  )
  SELECT jsonb_agg(position ORDER BY revision) INTO v_positions FROM ins;
  RETURN jsonb_build_object('next', v_cur + v_n, 'positions', v_positions);
END
$fn$;
CREATE OR REPLACE FUNCTION ${s}.append_locked(
  p_stream text, p_expected text, p_revision int, p_events jsonb
) RETURNS jsonb LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN ${s}.append_item(p_stream, p_expected, p_revision, p_events, true);
END
$fn$;
-- append_events(stream, expected, revision, events jsonb): one append in its own statement. Returns what
-- append_locked returns, or raises its error (rolling everything back) with the code as SQLSTATE.
CREATE OR REPLACE FUNCTION ${s}.append_events(
  p_stream text, p_expected text, p_revision int, p_events jsonb
) RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
  v_r jsonb;
BEGIN
  IF jsonb_array_length(p_events) > 0 THEN
    -- Appenders of one stream queue here, until the holder's transaction ends; other streams do not
    -- wait (two streams whose names share a 32-bit hash merely share a queue). An advisory lock, not a
    -- row lock, because it does not give the waiting transaction an id: ids are taken after the lock,
    -- so they increase with the stream's revisions (see the ordering check in append_locked).
    PERFORM pg_advisory_xact_lock(${lockKey(schema)}, hashtext(p_stream));
  END IF;
  v_r := ${s}.append_locked(p_stream, p_expected, p_revision, p_events);
  IF v_r ? 'error' THEN
    RAISE EXCEPTION USING ERRCODE = v_r->>'error', MESSAGE = CASE v_r->>'error'
      WHEN 'AC001' THEN 'wrong expected revision'
      WHEN 'AC002' THEN 'event id already stored elsewhere'
      ELSE 'transaction id below the stream''s last append, retry' END, DETAIL = v_r->>'detail';
  END IF;
  RETURN v_r;
END
$fn$;
-- append_batch([{"s": stream, "x": expected, "r": revision, "e": events}, ...]): many appends (of any
-- streams, one stream several times) in one statement and one transaction: group commit. Every stream's
-- lock is taken first, in one order (no deadlock between batches), before the first write, so the
-- transaction's id exceeds that of every earlier writer of its streams. Returns {"items": [result of
-- append_locked per item, in order], "at": the events' occurred_at}; a refused item writes nothing and
-- does not stop the others. Items sharing a link ("g") are all written or none: each is checked first,
-- and when one is refused the others answer AC004 (detail: the refused item's code).
CREATE OR REPLACE FUNCTION ${s}.append_batch(p_items jsonb) RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
  v_key int;
  v_item jsonb;
  v_o bigint;
  v_member record;
  v_check jsonb;
  v_refused text;
  v_done text[] := '{}';
  v_out jsonb[] := '{}';
BEGIN
  FOR v_key IN
    SELECT DISTINCT hashtext(i->>'s') FROM jsonb_array_elements(p_items) AS t(i)
     WHERE jsonb_array_length(i->'e') > 0 ORDER BY 1
  LOOP
    PERFORM pg_advisory_xact_lock(${lockKey(schema)}, v_key);
  END LOOP;
  FOR v_item, v_o IN SELECT t.i, t.o FROM jsonb_array_elements(p_items) WITH ORDINALITY AS t(i, o) ORDER BY t.o LOOP
    IF v_item ? 'g' THEN
      CONTINUE WHEN (v_item->>'g') = ANY (v_done);
      v_done := v_done || (v_item->>'g');
      v_refused := NULL;
      FOR v_member IN SELECT t.i, t.o FROM jsonb_array_elements(p_items) WITH ORDINALITY AS t(i, o)
                       WHERE t.i->>'g' = v_item->>'g' ORDER BY t.o LOOP
        v_check := ${s}.append_item(v_member.i->>'s', v_member.i->>'x', (v_member.i->>'r')::int, v_member.i->'e', false);
        IF v_check ? 'error' THEN
          v_out[v_member.o] := v_check;
          v_refused := coalesce(v_refused, v_check->>'error');
        END IF;
      END LOOP;
      FOR v_member IN SELECT t.i, t.o FROM jsonb_array_elements(p_items) WITH ORDINALITY AS t(i, o)
                       WHERE t.i->>'g' = v_item->>'g' ORDER BY t.o LOOP
        IF v_refused IS NULL THEN
          v_out[v_member.o] := ${s}.append_item(v_member.i->>'s', v_member.i->>'x', (v_member.i->>'r')::int, v_member.i->'e', true);
        ELSIF v_out[v_member.o] IS NULL THEN
          v_out[v_member.o] := jsonb_build_object('error', 'AC004', 'detail', v_refused);
        END IF;
      END LOOP;
    ELSE
      v_out[v_o] := ${s}.append_locked(v_item->>'s', v_item->>'x', (v_item->>'r')::int, v_item->'e');
    END IF;
  END LOOP;
  RETURN jsonb_build_object('items', to_jsonb(v_out),
    'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
END
$fn$;
`;
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INT4_MAX = 2147483647;

const checkCount = (n: number | undefined, what: string): number | null => {
  if (n === undefined) return null;
  if (!Number.isInteger(n) || n < 0) throw new TypeError(`${what} must be a non-negative integer, got ${n}`);
  return n;
};

/** Cursor in the log order: (transaction id, position). */
interface Cursor {
  tx: bigint;
  position: number;
}
const after = (a: Cursor, b: Cursor) => a.tx > b.tx || (a.tx === b.tx && a.position > b.position);

interface Row extends Record<string, unknown> {
  position: string | number;
  stream: string;
  revision: number;
  id: string;
  type: string;
  schemaVersion: number;
  occurredAt: string;
  data: string;
  metadata: string;
}

/** Column aliases have no underscore, so a column-name transform of the driver (postgres.camel) is harmless. */
/** Most of the events' data one subscription page holds (at least one event, however large). */
export const PAGE_MAX_BYTES = 4 * 1024 * 1024;

/** Events a subscription's first page reads (then more, up to its pageSize, while pages fit its bytes). */
const FIRST_PAGE_EVENTS = 16;

const COLUMNS = `e.position, e.stream, e.revision, e.id::text AS id, e.type, e.schema_version AS "schemaVersion",
  to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "occurredAt",
  e.data::text AS data, e.metadata::text AS metadata`;

export const toRecordedEvent = (r: Row): RecordedEvent => ({
  id: r.id,
  stream: r.stream,
  revision: Number(r.revision),
  position: Number(r.position),
  type: r.type,
  schemaVersion: Number(r.schemaVersion),
  occurredAt: r.occurredAt,
  data: JSON.parse(r.data),
  metadata: JSON.parse(r.metadata),
});

interface DbError {
  code?: string;
  detail?: string;
  constraint?: string;
  constraint_name?: string;
}

/** The events a batch wrote, as readers will see them (idempotent replays and refusals left out). */
const recordedEvents = (batch: QueuedAppend[], out: { items: ItemResult[]; at: string }) => {
  const written: RecordedEvent[] = [];
  out.items.forEach((r, i) => {
    if (r.error || r.replayed) return;
    const { stream, item } = batch[i]!;
    const first = Number(r.next) - item.e.length + 1;
    for (const [k, e] of item.e.entries()) {
      written.push({
        ...e,
        stream,
        revision: first + k,
        position: Number(r.positions[k]),
        occurredAt: out.at,
      });
    }
  });
  return written;
};

/** An async wake-up signal with a generation counter, so a wake between a read and a wait is never lost. */
class Wakeup {
  generation = 0;
  #waiters = new Set<() => void>();
  wake(): void {
    this.generation++;
    for (const w of this.#waiters) w();
    this.#waiters.clear();
  }
  on(fn: () => void): () => void {
    this.#waiters.add(fn);
    return () => this.#waiters.delete(fn);
  }
}

export class SqlEventStore implements EventStore {
  readonly #s: string;
  readonly #channel: string;
  readonly #pollMs: number;
  readonly #pageSize: number;
  readonly #wakeup = new Wakeup();
  readonly #subscriptions = new Set<Subscription>();
  #listening: Promise<() => Promise<void>> | null = null;
  #notifying: Promise<void> | null = null;
  #notifyAgain = false;
  /** NOTIFY payload of this store's appends. */
  readonly #origin: string;
  readonly #notify: boolean;
  readonly #inline: InlineProjection[];
  readonly #maxBatch: number;
  readonly #maxInFlight: number;
  readonly #autoAnalyze: boolean;
  /** Events written since the last ANALYZE, and the table's size then (autoAnalyze). */
  #unanalyzed = 0;
  #analyzedRows = 0;
  #analyzing: Promise<void> | null = null;
  #queue: QueuedAppend[] = [];
  #inFlight = 0;
  #flushScheduled = false;
  #closed = false;
  readonly kind: string;
  private readonly driver: SqlDriver;

  constructor(kind: string, driver: SqlDriver, schema: string, options: SqlStoreOptions = {}) {
    this.kind = kind;
    this.driver = driver;
    this.#s = quoteIdent(schema);
    this.#channel = channelFor(schema);
    this.#pollMs = options.pollIntervalMs ?? 500;
    this.#pageSize = options.pageSize ?? 500;
    this.#origin = options.origin ?? randomUUID();
    this.#notify = options.notify ?? true;
    this.#inline = options.inline ?? [];
    this.#maxBatch = options.maxBatch ?? 200;
    this.#maxInFlight = options.maxInFlight ?? 2;
    this.#autoAnalyze = options.autoAnalyze ?? false;
  }

  async append(
    stream: string,
    events: NewEvent[],
    options: { expectedRevision?: ExpectedRevision } = {},
  ): Promise<AppendResult> {
    const queued = this.#enqueue(this.#checked(stream, events, options.expectedRevision ?? 'any'));
    this.#scheduleFlush();
    return queued;
  }

  /** Each item is checked against its stream as it was before the group (one stream twice is refused). */
  async appendLinked(items: LinkedAppend[]): Promise<AppendResult[]> {
    const link = randomUUID();
    // Every item's arguments are checked before any is queued: a group is never queued in part.
    const checked = items.map((i) => this.#checked(i.stream, i.events, i.expectedRevision ?? 'any', link));
    const queued = checked.map((c) => this.#enqueue(c));
    this.#scheduleFlush();
    const settled = await Promise.allSettled(queued);
    const failures = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    // The refused item's own error says why; the others only say that they went with it.
    if (failures.length) throw failures.find((e) => !(e instanceof LinkRefused)) ?? failures[0];
    return settled.map((r) => (r as PromiseFulfilledResult<AppendResult>).value);
  }

  /** One append's arguments, checked, as the batch statement takes them (in `link`'s group, if any). */
  #checked(
    stream: string,
    events: NewEvent[],
    expected: ExpectedRevision,
    link?: string,
  ): Pick<QueuedAppend, 'stream' | 'expected' | 'item'> {
    if (typeof stream !== 'string' || stream.length === 0)
      throw new TypeError('stream must be a non-empty string');
    if (
      typeof expected === 'number' &&
      (!Number.isInteger(expected) || expected < 0 || expected > INT4_MAX)
    ) {
      throw new TypeError(`expectedRevision must be a non-negative integer, got ${expected}`);
    }
    const payload = events.map((e) => {
      if (typeof e.id !== 'string' || !UUID.test(e.id))
        throw new TypeError(`event id must be a uuid, got "${e.id}"`);
      if (typeof e.type !== 'string' || e.type.length === 0)
        throw new TypeError('event type must be a non-empty string');
      return {
        id: e.id,
        type: e.type,
        schemaVersion: e.schemaVersion ?? 1,
        data: e.data === undefined ? null : e.data,
        metadata: e.metadata,
      };
    });
    return {
      stream,
      expected,
      item: {
        s: stream,
        x: typeof expected === 'number' ? 'exact' : expected,
        r: typeof expected === 'number' ? expected : null,
        e: payload,
        ...(link ? { g: link } : {}),
      },
    };
  }

  #enqueue(append: Pick<QueuedAppend, 'stream' | 'expected' | 'item'>): Promise<AppendResult> {
    return new Promise<AppendResult>((resolve, reject) => {
      this.#queue.push({ ...append, attempt: 1, resolve, reject });
    });
  }

  /**
   * Group commit: appends made while earlier batches are in flight wait and go together in the next
   * statement (append_batch), so a busy store spends one statement, one commit and one WAL flush on many
   * appends, and an idle one sends each append at once (after the current microtask, which lets the
   * appends of one tick share a batch).
   */
  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#inFlight >= this.#maxInFlight || this.#queue.length === 0) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      while (this.#inFlight < this.#maxInFlight && this.#queue.length > 0) {
        let size = Math.min(this.#maxBatch, this.#queue.length);
        // A linked group goes whole in one batch.
        const link = this.#queue[size - 1]!.item.g;
        while (link && this.#queue[size]?.item.g === link) size++;
        const batch = this.#queue.splice(0, size);
        this.#inFlight++;
        void this.#write(batch).finally(() => {
          this.#inFlight--;
          this.#scheduleFlush();
        });
      }
    });
  }

  async #write(batch: QueuedAppend[]): Promise<void> {
    let out: { items: ItemResult[]; at: string };
    try {
      out = await this.#appendBatch(batch);
    } catch (err) {
      // A linked group stays together.
      const units = new Map<unknown, QueuedAppend[]>();
      for (const a of batch) units.set(a.item.g ?? a, [...(units.get(a.item.g ?? a) ?? []), a]);
      if (units.size > 1) {
        // One append broke the whole statement (say an id a concurrent transaction inserted first): each
        // goes again on its own, and only the guilty one fails.
        await Promise.all([...units.values()].map((unit) => this.#write(unit)));
        return;
      }
      const [a] = batch as [QueuedAppend];
      const error = await this.#mapError(err, a.stream, a.expected);
      for (const member of batch) member.reject(error);
      return;
    }
    let wrote = false;
    let written = 0;
    out.items.forEach((r, i) => {
      const a = batch[i]!;
      const code = r.error === 'AC004' ? r.detail : r.error;
      if (code === 'AC003' && a.attempt < 10) {
        a.attempt++; // see append_locked: a new transaction will do (a linked group goes again whole)
        this.#queue.push(a);
      } else if (r.error === 'AC004') {
        a.reject(new LinkRefused(`stream ${a.stream}: not written, another append of its group was refused`));
      } else if (r.error) {
        a.reject(this.#refusal(r.error, r.detail, a.stream, a.expected));
      } else {
        wrote ||= a.item.e.length > 0 && !r.replayed;
        if (!r.replayed) written += a.item.e.length;
        a.resolve({ nextExpectedRevision: Number(r.next), positions: r.positions.map(Number) });
      }
    });
    if (wrote) this.#appended();
    if (written > 0) this.#maybeAnalyze(written);
  }

  /** autoAnalyze: refreshes the planner's statistics once enough was written (at most one at a time). */
  #maybeAnalyze(written: number): void {
    if (!this.#autoAnalyze) return;
    this.#unanalyzed += written;
    if (this.#analyzing || this.#closed || this.#unanalyzed < 500 + this.#analyzedRows / 10) return;
    this.#analyzedRows += this.#unanalyzed;
    this.#unanalyzed = 0;
    this.#analyzing = this.driver
      .exec(`ANALYZE ${this.#s}.events`)
      .catch(() => {}) // statistics are an optimisation: the next threshold tries again
      .finally(() => {
        this.#analyzing = null;
      });
  }

  /** One statement; inside a transaction with the inline projections when some of them are concerned. */
  async #appendBatch(batch: QueuedAppend[]): Promise<{ items: ItemResult[]; at: string }> {
    const text = `SELECT ${this.#s}.append_batch($1::text::jsonb)::text AS r`;
    const params = [JSON.stringify(batch.map((a) => a.item))];
    const parse = (rows: Record<string, unknown>[]) =>
      JSON.parse(String(rows[0]!.r)) as { items: ItemResult[]; at: string };
    const concerned = this.#inline.filter((p) =>
      batch.some((a) => a.item.e.some((e) => matchesFilter(p.filter, { stream: a.stream, ...e }))),
    );
    if (concerned.length === 0) return parse(await this.driver.query(text, params));
    return this.driver.transaction(async (query) => {
      // Planned for each batch's own rows: a plan cached while the read model was small would scan it whole.
      const tx: SqlExecutor = {
        query: async <Row>(t: string, p: unknown[] = []) => (await query(t, p, { oneOff: true })) as Row[],
      };
      const appended = query(text, params);
      const streams = [...new Set(batch.map((a) => a.stream))];
      const prefetched = concerned.map((p) => {
        const prefix = p.filter?.streamPrefix;
        const read = p.prefetch?.(prefix ? streams.filter((s) => s.startsWith(prefix)) : streams, tx);
        read?.catch(() => {}); // fails with the append when the transaction does; the append's error is the one
        return read;
      });
      const out = parse(await appended);
      const written = recordedEvents(batch, out);
      for (const [i, p] of concerned.entries()) {
        const events = written.filter((e) => matchesFilter(p.filter, e));
        if (events.length > 0) await p.applyBatch(events, tx, await prefetched[i]);
      }
      return out;
    });
  }

  #refusal(code: 'AC001' | 'AC002' | 'AC003', detail: string, stream: string, expected: ExpectedRevision) {
    if (code === 'AC001') {
      const actual = Number(detail);
      return new ConcurrencyError(stream, expected, actual < 0 ? 'no_stream' : actual);
    }
    if (code === 'AC002') return new DuplicateEventError(detail);
    return new Error(`stream ${stream}: could not be appended in log order after 10 attempts`);
  }

  /**
   * After a commit: wake this store's subscriptions, and NOTIFY the other processes' stores. The NOTIFY
   * is a statement of its own, not part of the append transaction: PostgreSQL serialises the commits of
   * notifying transactions (a global lock held through the WAL flush), which halved append throughput.
   * Coalesced: at most one in flight and one pending. Should this process die between its commit and the
   * NOTIFY, the other processes' subscriptions still get the event from their poll.
   */
  #appended(): void {
    this.#wakeup.wake();
    if (!this.#notify) return;
    if (this.#notifying) {
      this.#notifyAgain = true;
      return;
    }
    this.#notifying = (async () => {
      try {
        do {
          this.#notifyAgain = false;
          await this.driver.query(`SELECT pg_notify($1, $2)`, [this.#channel, this.#origin]);
        } while (this.#notifyAgain && !this.#closed);
      } catch {
        // a lost notification only delays other processes' subscriptions until their next poll
      } finally {
        this.#notifying = null;
      }
    })();
  }

  async #mapError(err: unknown, stream: string, expected: ExpectedRevision): Promise<unknown> {
    const e = err as DbError;
    if (e.code === '23505') {
      const constraint = e.constraint_name ?? e.constraint ?? '';
      if (constraint === 'events_id_unique') {
        // e.g. two events with one id in the batch, or a concurrent append of the id to another stream
        return new DuplicateEventError(/\(id\)=\(([^)]+)\)/.exec(e.detail ?? '')?.[1] ?? 'unknown');
      }
      if (constraint === 'events_stream_revision_unique') {
        // Cannot happen while every appender goes through append_events (it locks the stream) in READ
        // COMMITTED; a raw unique violation must never reach callers as such.
        const rows = await this.driver.query(
          `SELECT max(revision) AS revision FROM ${this.#s}.events WHERE stream = $1`,
          [stream],
        );
        const actual = rows[0]?.revision == null ? -1 : Number(rows[0].revision);
        return new ConcurrencyError(stream, expected, actual < 0 ? 'no_stream' : actual);
      }
    }
    return err;
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const backwards = options.direction === 'backwards';
    const from = checkCount(options.fromRevision, 'fromRevision') ?? (backwards ? INT4_MAX : 0);
    const max = checkCount(options.maxCount, 'maxCount');
    if (max === 0) return [];
    const rows = await this.driver.query(
      `SELECT ${COLUMNS} FROM ${this.#s}.events e
        WHERE e.stream = $1 AND e.revision ${backwards ? '<=' : '>='} $2
        ORDER BY e.revision ${backwards ? 'DESC' : 'ASC'} LIMIT $3`,
      [stream, Math.min(from, INT4_MAX), max],
    );
    return (rows as Row[]).map(toRecordedEvent);
  }

  async readStreams(streams: string[]): Promise<Map<string, RecordedEvent[]>> {
    const out = new Map<string, RecordedEvent[]>(streams.map((s) => [s, []]));
    if (streams.length === 0) return out;
    const rows = await this.driver.query(
      `SELECT ${COLUMNS} FROM ${this.#s}.events e WHERE e.stream = ANY($1::text[]) ORDER BY e.stream, e.revision`,
      [[...out.keys()]],
      // A plan cached for a short array over a small table scans the whole table once both have grown.
      { oneOff: true },
    );
    for (const row of rows as Row[]) {
      const event = toRecordedEvent(row);
      out.get(event.stream)!.push(event);
    }
    return out;
  }

  /** WHERE clauses for a filter, with their parameters numbered from `next`. */
  #filterSql(filter: AllFilter | undefined, params: unknown[]): string {
    let where = '';
    if (filter?.types) {
      params.push(filter.types);
      where += ` AND e.type = ANY($${params.length}::text[])`;
    }
    if (filter?.streamPrefix) {
      params.push(filter.streamPrefix);
      where += ` AND starts_with(e.stream, $${params.length})`;
    }
    if (filter?.tenant !== undefined) {
      params.push(filter.tenant);
      // The same expression as events_tenant_log_order's, so that index serves it.
      where += ` AND (e.metadata->>'tenant') = $${params.length}::text`;
    }
    return where;
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const from = checkCount(options.after, 'after') ?? 0;
    const max = checkCount(options.maxCount, 'maxCount') ?? DEFAULT_READ_ALL_MAX;
    if (max === 0 || options.filter?.types?.length === 0) return [];
    const params: unknown[] = [max];
    let where = `e.tx_id < (SELECT pg_snapshot_xmin(pg_current_snapshot()))`;
    if (from > 0) {
      params.push(from);
      const p = `$${params.length}::bigint`;
      where += ` AND (e.tx_id, e.position) > ((SELECT a.tx_id FROM ${this.#s}.events a WHERE a.position = ${p}), ${p})`;
    }
    where += this.#filterSql(options.filter, params);
    const rows = await this.driver.query(
      `SELECT ${COLUMNS} FROM ${this.#s}.events e WHERE ${where} ORDER BY e.tx_id, e.position LIMIT $1`,
      params,
    );
    if (rows.length === 0 && from > 0) await this.#cursorOf(from); // throws when `after` is not in the log
    return (rows as Row[]).map(toRecordedEvent);
  }

  async #cursorOf(position: number): Promise<Cursor> {
    if (position === 0) return { tx: 0n, position: 0 };
    const rows = await this.driver.query(
      `SELECT tx_id::text AS tx FROM ${this.#s}.events WHERE position = $1`,
      [position],
    );
    if (!rows[0]) throw new RangeError(`position ${position} is not in the log`);
    return { tx: BigInt(String(rows[0].tx)), position };
  }

  /**
   * One page of the log after `cursor`, plus the head: the last event (matching or not) below the same
   * xmin horizon. When the page is not full, everything up to the head has been seen, so a filtered
   * subscription can move its cursor there instead of scanning the same non-matching events again.
   */
  async #page(
    cursor: Cursor,
    filter: AllFilter | undefined,
    pageSize: number,
    pageBytes: number,
  ): Promise<{
    events: Array<{ event: RecordedEvent; cursor: Cursor }>;
    head: Cursor | null;
    full: boolean;
    cutByBytes: boolean;
  }> {
    const params: unknown[] = [cursor.tx.toString(), cursor.position, pageSize, pageBytes];
    const where = this.#filterSql(filter, params);
    // A page stops at `pageSize` events or `pageBytes` of their data (the first event always comes),
    // so what a subscriber holds while its consumer is slow is bounded in bytes, not only in events.
    const rows = await this.driver.query(
      `WITH lim AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),
       taken AS (
         SELECT ${COLUMNS}, e.tx_id::text AS tx FROM ${this.#s}.events e
          WHERE (e.tx_id, e.position) > ($1::text::xid8, $2::bigint) AND e.tx_id < (SELECT xmin FROM lim)${where}
          ORDER BY e.tx_id, e.position LIMIT $3),
       sized AS (
         SELECT t.*, count(*) OVER () AS taken,
                sum(octet_length(t.data)) OVER (ORDER BY t.tx::xid8, t.position) - octet_length(t.data) AS before
           FROM taken t),
       page AS (SELECT * FROM sized WHERE before < $4),
       head AS (
         SELECT h.tx_id::text AS "headTx", h.position AS "headPosition" FROM ${this.#s}.events h
          WHERE h.tx_id < (SELECT xmin FROM lim) ORDER BY h.tx_id DESC, h.position DESC LIMIT 1)
       SELECT head."headTx", head."headPosition", page.* FROM head LEFT JOIN page ON true
        ORDER BY page.tx::xid8, page.position`,
      params,
    );
    const first = rows[0];
    const head = first ? { tx: BigInt(String(first.headTx)), position: Number(first.headPosition) } : null;
    const events = rows
      .filter((r) => r.id != null)
      .map((r) => ({
        event: toRecordedEvent(r as Row),
        cursor: { tx: BigInt(String(r.tx)), position: Number(r.position) },
      }));
    // Full: more may follow at once (the count or the byte budget cut the page), so read again now.
    const taken = Number(first?.taken ?? 0);
    const cutByBytes = events.length < taken;
    return { events, head, full: taken === pageSize || cutByBytes, cutByBytes };
  }

  #listen(): Promise<unknown> {
    if (!this.#listening) {
      const attempt = this.driver.listen(this.#channel, (origin) => {
        if (origin !== this.#origin) this.#wakeup.wake(); // this store's own appends woke it already
      });
      this.#listening = attempt;
      attempt.catch(() => {
        if (this.#listening === attempt) this.#listening = null; // let the next subscription try again
      });
    }
    return this.#listening;
  }

  subscribeAll(options: SubscribeOptions = {}): Subscription {
    if (this.#closed) throw new Error('event store is closed');
    const start = checkCount(options.after, 'after') ?? 0;
    const filter = options.filter;
    const wakeup = this.#wakeup;
    const pollMs = this.#pollMs;
    const pageSize = checkCount(options.pageSize, 'pageSize') || this.#pageSize;
    const pageBytes = Math.min(checkCount(options.pageBytes, 'pageBytes') || PAGE_MAX_BYTES, PAGE_MAX_BYTES);
    const gate = options.readGate ?? (<T>(read: () => Promise<T>) => read());
    let closed = false;
    let interrupt: (() => void) | null = null;
    let inflight: Promise<unknown> | null = null;
    const track = <T>(p: Promise<T>): Promise<T> => {
      inflight = p;
      return p;
    };

    /** Resolves true when woken (or closed), false when `ms` passed without a wake-up. */
    const waitForWake = (generation: number, ms: number) =>
      new Promise<boolean>((resolve) => {
        if (closed || wakeup.generation !== generation) return resolve(true);
        const done = (woken: boolean) => {
          clearTimeout(timer);
          off();
          interrupt = null;
          resolve(woken);
        };
        const timer = setTimeout(() => done(false), ms);
        const off = wakeup.on(() => done(true));
        interrupt = () => done(true);
      });

    const self = this;
    async function* run(): AsyncGenerator<RecordedEvent> {
      try {
        await track(self.#listen());
        let cursor = await track(self.#cursorOf(start));
        let head: Cursor | null = null;
        let woken = false;
        let eager = 0;
        // Events read per page, within pageSize. The database converts every event it reads to text to
        // size the page, so a page of large events cut by pageBytes read many more than it returned (100
        // events of 100 KB read for the two that fit in 256 KiB). The limit follows what fitted: twice the
        // events of a page the byte budget cut, doubling back towards pageSize while pages fit whole.
        let limit = Math.min(pageSize, FIRST_PAGE_EVENTS);
        while (!closed) {
          const generation = wakeup.generation;
          const from = cursor;
          const size = limit;
          const page = await track(gate(() => self.#page(from, filter, size, pageBytes)));
          limit = page.cutByBytes
            ? Math.max(1, Math.min(pageSize, page.events.length * 2))
            : Math.min(pageSize, limit * 2);
          for (const { event, cursor: c } of page.events) {
            if (closed) return;
            yield event;
            cursor = c;
          }
          if (page.full) continue;
          const headMoved = page.head !== null && (head === null || after(page.head, head));
          if (page.head && headMoved) head = page.head;
          if (head && after(head, cursor)) cursor = head;
          // Told that something was committed, but nothing new is readable: an older transaction (maybe
          // not even an append) still holds the horizon back. Look again soon (10, 20, 40 ... 500 ms)
          // rather than only at the next poll, until something new is readable.
          eager =
            page.events.length === 0 && !headMoved && (woken || eager > 0)
              ? Math.min(pollMs, 500, eager * 2 || 10)
              : 0;
          woken = await waitForWake(generation, eager || pollMs);
        }
      } catch (err) {
        if (!closed) throw err; // after close(), a failing in-flight query is not the consumer's problem
      } finally {
        self.#subscriptions.delete(subscription);
      }
    }

    const iterator = run();
    const subscription: Subscription = {
      [Symbol.asyncIterator]: () => iterator,
      async close() {
        closed = true;
        interrupt?.();
        self.#subscriptions.delete(subscription);
        await Promise.resolve(inflight).catch(() => {});
      },
    };
    this.#subscriptions.add(subscription);
    return subscription;
  }

  /** Ends every subscription and stops listening. The database connection itself belongs to the caller. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((s) => s.close()));
    await this.#notifying;
    await this.#analyzing;
    const listening = this.#listening;
    this.#listening = null;
    if (listening) await (await listening.catch(() => null))?.();
  }
}
