/**
 * The lineage projection's writes for one batch, held in memory and written as four multi-row statements at
 * the end, with the same result as writing each at once. A task costs the projection one statement per
 * batch instead of six per task: the async projections share PGlite's one thread with the hot path's
 * appends, so statements per event are what the hub's throughput pays for the read side.
 *
 * Exactness, one rule per kind of write:
 * - nodes: the first insert of an id wins (ON CONFLICT DO NOTHING); a later one in the batch is dropped here;
 * - patches merge shallowly in order, as `attributes || patch` does, and apply after the inserts: a node
 *   inserted in this batch gets them as if patched after its insert; a patch of an id not yet inserted, then
 *   an insert of it, would differ, so such an insert flushes first (never seen in practice);
 * - edges and noted events: first wins, like their ON CONFLICT DO NOTHING;
 * - reads that depend on attributes or positions flush first; existence and causation lookups consult the
 *   buffer and, for the causation ids of the batch, one prefetch.
 */
import type { RecordedEvent } from '../events/envelope.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';

export interface NodeRow {
  tenant: string;
  id: string;
  kind: string;
  label: string;
  subject: string;
  attributes: Record<string, unknown>;
  correlation_id: string;
  causation_id: string | null;
  event_id: string;
  position: number;
  occurred_at: string;
}
interface EdgeRow {
  tenant: string;
  src: string;
  dst: string;
  kind: string;
  position: number;
}
interface NotedEvent {
  tenant: string;
  event_id: string;
  node_id: string;
}

const key = (...parts: string[]) => parts.join('\u0000');
const EVENT_IDS = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** The event ids a causation id names (the hub's command ids: `wf-outcome:<id>`, `route:<id>`, ...). */
export const causationEventIds = (event: RecordedEvent): string[] =>
  (event.metadata.causationId?.match(EVENT_IDS) ?? []).map((i) => i.toLowerCase());

export class LineageWrites {
  private readonly nodes = new Map<string, NodeRow>();
  private readonly patches = new Map<
    string,
    { tenant: string; id: string; patch: Record<string, unknown> }
  >();
  private readonly edges = new Map<string, EdgeRow>();
  private readonly noted = new Map<string, NotedEvent>();
  /** The node each prefetched event id touched in earlier batches (absent: none). */
  private readonly stored = new Map<string, string>();
  private readonly prefetched = new Set<string>();

  constructor(readonly tx: SqlExecutor) {}

  /** Reads, for the batch's causation ids, which nodes their events touched: one statement per batch. */
  async prefetch(events: RecordedEvent[]): Promise<void> {
    const wanted = new Map<string, [string, string]>();
    for (const e of events)
      for (const id of causationEventIds(e)) wanted.set(key(e.metadata.tenant, id), [e.metadata.tenant, id]);
    if (wanted.size === 0) return;
    const pairs = [...wanted.values()];
    const rows = await this.tx.query<NotedEvent>(
      `SELECT e.tenant, e.event_id, e.node_id FROM rm_lineage_events e
        JOIN unnest($1::text[], $2::text[]) AS k(tenant, event_id) USING (tenant, event_id)`,
      [pairs.map((p) => p[0]), pairs.map((p) => p[1])],
    );
    for (const k of wanted.keys()) this.prefetched.add(k);
    for (const r of rows) this.stored.set(key(r.tenant, r.event_id), r.node_id);
  }

  async insertNode(row: NodeRow): Promise<void> {
    const k = key(row.tenant, row.id);
    if (this.nodes.has(k)) return;
    if (this.patches.has(k)) await this.flush();
    this.nodes.set(k, row);
  }

  patchNode(tenant: string, id: string, patch: Record<string, unknown>): void {
    const k = key(tenant, id);
    const earlier = this.patches.get(k);
    this.patches.set(k, { tenant, id, patch: earlier ? { ...earlier.patch, ...patch } : patch });
  }

  addEdge(row: EdgeRow): void {
    const k = key(row.tenant, row.src, row.dst, row.kind);
    if (!this.edges.has(k)) this.edges.set(k, row);
  }

  noteEvent(row: NotedEvent): void {
    const k = key(row.tenant, row.event_id);
    if (!this.noted.has(k)) this.noted.set(k, row);
  }

  /** Whether the tenant has this node (buffered or stored): only inserts make one, so no flush is needed. */
  async hasNode(tenant: string, id: string): Promise<boolean> {
    if (this.nodes.has(key(tenant, id))) return true;
    return (
      (await this.tx.query('SELECT 1 FROM rm_lineage_nodes WHERE tenant = $1 AND id = $2', [tenant, id]))
        .length > 0
    );
  }

  /**
   * The nodes the events named by ids touched, when every id was prefetched (null: not known here, ask the
   * database after a flush).
   */
  causingNodes(tenant: string, eventIds: string[]): string[] | null {
    const found: string[] = [];
    for (const id of eventIds) {
      const k = key(tenant, id);
      const node = this.stored.get(k) ?? this.noted.get(k)?.node_id;
      if (node) found.push(node);
      else if (!this.prefetched.has(k)) return null;
    }
    return found;
  }

  /** A read that must see every write before it. */
  async read<Row>(text: string, params: unknown[]): Promise<Row[]> {
    await this.flush();
    return this.tx.query<Row>(text, params);
  }

  /** Writes what is buffered; the buffer is empty afterwards. */
  async flush(): Promise<void> {
    const take = <T>(m: Map<string, T>) => {
      const rows = [...m.values()];
      m.clear();
      return rows;
    };
    const edges = take(this.edges);
    const noted = take(this.noted);
    const nodes = take(this.nodes);
    const patches = take(this.patches);
    // What the prefetch found stays true (first wins); what was noted since is stored now.
    for (const n of noted) {
      const k = key(n.tenant, n.event_id);
      if (!this.stored.has(k)) this.stored.set(k, n.node_id);
    }
    if (edges.length)
      await this.tx.query(
        `INSERT INTO rm_lineage_edges (tenant, src, dst, kind, position)
         SELECT tenant, src, dst, kind, position FROM jsonb_to_recordset($1::text::jsonb)
           AS r(tenant text, src text, dst text, kind text, position bigint)
         ON CONFLICT DO NOTHING`,
        [JSON.stringify(edges)],
      );
    if (noted.length)
      await this.tx.query(
        `INSERT INTO rm_lineage_events (tenant, event_id, node_id)
         SELECT tenant, event_id, node_id FROM jsonb_to_recordset($1::text::jsonb)
           AS r(tenant text, event_id text, node_id text)
         ON CONFLICT DO NOTHING`,
        [JSON.stringify(noted)],
      );
    if (nodes.length)
      await this.tx.query(
        `INSERT INTO rm_lineage_nodes (tenant, id, kind, label, subject, attributes, correlation_id,
           causation_id, event_id, position, occurred_at)
         SELECT tenant, id, kind, label, subject, attributes, correlation_id, causation_id, event_id, position,
           occurred_at FROM jsonb_to_recordset($1::text::jsonb)
           AS r(tenant text, id text, kind text, label text, subject text, attributes jsonb,
             correlation_id text, causation_id text, event_id text, position bigint, occurred_at timestamptz)
         ON CONFLICT DO NOTHING`,
        [JSON.stringify(nodes)],
      );
    if (patches.length)
      await this.tx.query(
        `UPDATE rm_lineage_nodes n SET attributes = n.attributes || r.patch
           FROM jsonb_to_recordset($1::text::jsonb) AS r(tenant text, id text, patch jsonb)
          WHERE n.tenant = r.tenant AND n.id = r.id`,
        [JSON.stringify(patches)],
      );
  }
}
