/** The event store's schema: its tables, the append functions (PL/pgSQL), and the names derived from the schema. */

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
