/**
 * The SQL event store shared by the PostgreSQL (postgres.js) and PGlite adapters: schema, append function,
 * queries, row mapping and the catch-up-then-live subscription. Each adapter only supplies a `SqlDriver`.
 * The design (and why readers filter on `tx_id < pg_snapshot_xmin(...)`) is explained in postgres.ts.
 */
import { randomUUID } from 'node:crypto';
import type { NewEvent, RecordedEvent } from '../../events/envelope.ts';
import {
  type AllFilter,
  type AppendResult,
  ConcurrencyError,
  DuplicateEventError,
  type EventStore,
  type ExpectedRevision,
  type ReadAllOptions,
  type ReadStreamOptions,
  type Subscription,
} from './port.ts';

/** The little an adapter has to provide. Queries use $n placeholders; results are plain rows. */
export interface SqlDriver {
  query(text: string, params: unknown[]): Promise<Record<string, unknown>[]>;
  /** A multi-statement script, run as one implicit transaction (simple query protocol). */
  exec(script: string): Promise<void>;
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
}

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
-- append_events(stream, expected ('any' | 'no_stream' | 'stream_exists' | 'exact'), revision, events jsonb)
-- returns {"next": revision, "positions": [...]}, or raises (rolling everything back):
--   AC001 wrong expected revision (DETAIL: the actual revision, -1 for no stream),
--   AC002 an event id is already stored elsewhere (DETAIL: the id),
--   AC003 retry in a new transaction (see the ordering check below).
CREATE OR REPLACE FUNCTION ${s}.append_events(
  p_stream text, p_expected text, p_revision int, p_events jsonb
) RETURNS jsonb LANGUAGE plpgsql AS $fn$
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
  IF v_n > 0 THEN
    -- Appenders of one stream queue here, until the holder's transaction ends; other streams do not
    -- wait (two streams whose names share a 32-bit hash merely share a queue). An advisory lock, not a
    -- row lock, because it does not give the waiting transaction an id: ids are taken after the lock,
    -- so they increase with the stream's revisions (see the ordering check below).
    PERFORM pg_advisory_xact_lock(${lockKey(schema)}, hashtext(p_stream));
  END IF;
  -- A new statement, so a new snapshot (READ COMMITTED): it sees the previous holder's commit.
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
        RETURN jsonb_build_object('next', v_last, 'positions', v_positions);
      END IF;
      RAISE EXCEPTION USING ERRCODE = 'AC002', MESSAGE = 'event id already stored elsewhere', DETAIL = v_dup::text;
    END IF;
  END IF;

  IF NOT (CASE p_expected
            WHEN 'any' THEN true
            WHEN 'no_stream' THEN v_cur = -1
            WHEN 'stream_exists' THEN v_cur >= 0
            ELSE v_cur = p_revision END) THEN
    RAISE EXCEPTION USING ERRCODE = 'AC001', MESSAGE = 'wrong expected revision', DETAIL = v_cur::text;
  END IF;
  IF v_n = 0 THEN
    RETURN jsonb_build_object('next', v_cur, 'positions', '[]'::jsonb);
  END IF;
  -- Each stream must stay in revision order in the log order (tx_id, position): this transaction's id
  -- must be above the one that wrote the stream's last event. Always true when the function runs in its
  -- own transaction; a transaction that already had an id before taking the lock may fail it, and must
  -- then be retried as a new transaction.
  IF v_last_tx IS NOT NULL AND pg_current_xact_id() < v_last_tx THEN
    RAISE EXCEPTION USING ERRCODE = 'AC003', MESSAGE = 'transaction id below the stream''s last append, retry';
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
  }

  async append(
    stream: string,
    events: NewEvent[],
    options: { expectedRevision?: ExpectedRevision } = {},
  ): Promise<AppendResult> {
    const expected = options.expectedRevision ?? 'any';
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
    const params = [
      stream,
      typeof expected === 'number' ? 'exact' : expected,
      typeof expected === 'number' ? expected : null,
      JSON.stringify(payload),
    ];
    let rows: Record<string, unknown>[] | null = null;
    for (let attempt = 1; !rows; attempt++) {
      try {
        rows = await this.driver.query(
          `SELECT ${this.#s}.append_events($1, $2, $3, $4::text::jsonb)::text AS r`,
          params,
        );
      } catch (err) {
        if ((err as DbError).code === 'AC003' && attempt < 10) continue; // see append_events
        throw await this.#mapError(err, stream, expected);
      }
    }
    const r = JSON.parse(String(rows[0]!.r)) as { next: number; positions: Array<number | string> };
    if (payload.length > 0) this.#appended();
    return { nextExpectedRevision: Number(r.next), positions: r.positions.map(Number) };
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
    if (e.code === 'AC001') {
      const actual = Number(e.detail);
      return new ConcurrencyError(stream, expected, actual < 0 ? 'no_stream' : actual);
    }
    if (e.code === 'AC002') return new DuplicateEventError(String(e.detail));
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
  ): Promise<{ events: Array<{ event: RecordedEvent; cursor: Cursor }>; head: Cursor | null }> {
    const params: unknown[] = [cursor.tx.toString(), cursor.position, this.#pageSize];
    const where = this.#filterSql(filter, params);
    const rows = await this.driver.query(
      `WITH lim AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),
       page AS (
         SELECT ${COLUMNS}, e.tx_id::text AS tx FROM ${this.#s}.events e
          WHERE (e.tx_id, e.position) > ($1::text::xid8, $2::bigint) AND e.tx_id < (SELECT xmin FROM lim)${where}
          ORDER BY e.tx_id, e.position LIMIT $3),
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
    return { events, head };
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

  subscribeAll(options: Omit<ReadAllOptions, 'maxCount'> = {}): Subscription {
    if (this.#closed) throw new Error('event store is closed');
    const start = checkCount(options.after, 'after') ?? 0;
    const filter = options.filter;
    const wakeup = this.#wakeup;
    const pollMs = this.#pollMs;
    const pageSize = this.#pageSize;
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
        while (!closed) {
          const generation = wakeup.generation;
          const page = await track(self.#page(cursor, filter));
          for (const { event, cursor: c } of page.events) {
            if (closed) return;
            yield event;
            cursor = c;
          }
          if (page.events.length === pageSize) continue;
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
    const listening = this.#listening;
    this.#listening = null;
    if (listening) await (await listening.catch(() => null))?.();
  }
}
