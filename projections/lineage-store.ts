/**
 * How the lineage projection writes its tables (rm_lineage_nodes, rm_lineage_edges, rm_lineage_events):
 * nodes, their attribute patches, edges, and the edges a causation id implies. Every write is keyed, so a
 * replayed event changes nothing.
 */
import type { RecordedEvent } from '../events/envelope.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';

/** Node ids: a kind's prefix and the id that names it in the log. */
export const lineageIds = {
  task: (taskId: string) => `task:${taskId}`,
  run: (runId: string) => `run:${runId}`,
  step: (taskId: string) => `step:${taskId}`,
  decision: (eventId: string) => `decision:${eventId}`,
  call: (callId: string) => `call:${callId}`,
  remoteTask: (agentKey: string, taskId: string) => `remote-task:${agentKey}:${taskId}`,
  upstream: (ref: string) => `upstream:${ref}`,
  circuit: (eventId: string) => `circuit:${eventId}`,
  handoff: (eventId: string) => `handoff:${eventId}`,
  compensation: (eventId: string) => `compensation:${eventId}`,
};

export const LINEAGE_MIGRATIONS = [
  `CREATE TABLE rm_lineage_nodes (
     tenant text NOT NULL, id text NOT NULL, kind text NOT NULL, label text NOT NULL,
     subject text NOT NULL, attributes jsonb NOT NULL, correlation_id text NOT NULL,
     causation_id text, event_id text NOT NULL, position bigint NOT NULL, occurred_at timestamptz NOT NULL,
     PRIMARY KEY (tenant, id));
   CREATE INDEX rm_lineage_nodes_subject ON rm_lineage_nodes (tenant, kind, subject, position DESC);
   CREATE INDEX rm_lineage_nodes_causation ON rm_lineage_nodes (tenant, causation_id);
   CREATE TABLE rm_lineage_edges (
     tenant text NOT NULL, src text NOT NULL, dst text NOT NULL, kind text NOT NULL,
     position bigint NOT NULL, PRIMARY KEY (tenant, src, dst, kind));
   CREATE INDEX rm_lineage_edges_dst ON rm_lineage_edges (tenant, dst);
   CREATE TABLE rm_lineage_events (
     tenant text NOT NULL, event_id text NOT NULL, node_id text NOT NULL, PRIMARY KEY (tenant, event_id))`,
];
export const LINEAGE_TABLES = ['rm_lineage_edges', 'rm_lineage_events', 'rm_lineage_nodes'];

/** A node as an event makes it: the event gives its tenant, correlation, causation, time and position. */
export interface NodeInput {
  id: string;
  kind: string;
  label: string;
  /** What the node is about, to find it again: a task id, a run id, an agent key. */
  subject: string;
  attributes: Record<string, unknown>;
}

/** Records that `event` touched `nodeId`, so a later event caused by it (causation id) links to the node. */
export const noteEvent = async (tx: SqlExecutor, event: RecordedEvent, nodeId: string) => {
  await tx.query(
    'INSERT INTO rm_lineage_events (tenant, event_id, node_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
    [event.metadata.tenant, event.id, nodeId],
  );
};

/**
 * Adds the node (the first event to name it wins), its `incoming` edges ([from, kind]), then the edges its
 * causation id implies between nodes not linked already.
 */
export const addNode = async (
  tx: SqlExecutor,
  event: RecordedEvent,
  node: NodeInput,
  incoming: ReadonlyArray<readonly [from: string | null, kind: string]> = [],
) => {
  for (const [from, kind] of incoming) if (from) await addEdge(tx, event, from, node.id, kind);
  const m = event.metadata;
  await tx.query(
    `INSERT INTO rm_lineage_nodes (tenant, id, kind, label, subject, attributes, correlation_id, causation_id,
       event_id, position, occurred_at)
     VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING`,
    [
      m.tenant,
      node.id,
      node.kind,
      node.label,
      node.subject,
      JSON.stringify(node.attributes),
      m.correlationId,
      m.causationId,
      event.id,
      event.position,
      event.occurredAt,
    ],
  );
  await noteEvent(tx, event, node.id);
  await causedBy(tx, event, node.id);
};

/** Merges `attributes` into the node's (a later event's news: a state, an outcome); a missing node stays so. */
export const patchNode = async (
  tx: SqlExecutor,
  event: RecordedEvent,
  id: string,
  attributes: Record<string, unknown>,
) => {
  await tx.query(
    'UPDATE rm_lineage_nodes SET attributes = attributes || $3::text::jsonb WHERE tenant = $1 AND id = $2',
    [event.metadata.tenant, id, JSON.stringify(attributes)],
  );
};

export const addEdge = async (
  tx: SqlExecutor,
  event: RecordedEvent,
  src: string,
  dst: string,
  kind: string,
) => {
  if (src === dst) return;
  await tx.query(
    `INSERT INTO rm_lineage_edges (tenant, src, dst, kind, position) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT DO NOTHING`,
    [event.metadata.tenant, src, dst, kind, event.position],
  );
};

/** Whether the tenant has this node. */
export const hasNode = async (tx: SqlExecutor, tenant: string, id: string): Promise<boolean> =>
  (await tx.query('SELECT 1 FROM rm_lineage_nodes WHERE tenant = $1 AND id = $2', [tenant, id])).length > 0;

/** The most recent node of a kind about `subject` (before `event`) whose attributes contain `match`. */
export const latestNode = async (
  tx: SqlExecutor,
  event: RecordedEvent,
  kind: string,
  subject: string,
  match: Record<string, unknown> = {},
): Promise<string | null> => {
  const [row] = await tx.query<{ id: string }>(
    `SELECT id FROM rm_lineage_nodes WHERE tenant = $1 AND kind = $2 AND subject = $3
       AND attributes @> $4::text::jsonb AND position <= $5
     ORDER BY position DESC, id DESC LIMIT 1`,
    [event.metadata.tenant, kind, subject, JSON.stringify(match), event.position],
  );
  return row?.id ?? null;
};

/** Nodes made by events with this causation id (the same command's other effects). */
export const nodesCausedAlike = async (tx: SqlExecutor, event: RecordedEvent, kind: string) =>
  event.metadata.causationId === null
    ? []
    : (
        await tx.query<{ id: string }>(
          'SELECT id FROM rm_lineage_nodes WHERE tenant = $1 AND causation_id = $2 AND kind = $3 ORDER BY id',
          [event.metadata.tenant, event.metadata.causationId, kind],
        )
      ).map((r) => r.id);

const EVENT_IDS = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/**
 * Causation edges: the hub's command ids name the event that caused them (`wf-outcome:<event id>`,
 * `route:<event id>`, `circuit:<event id>`), so a node made by such a command is linked (`caused`) from the
 * node that event touched, unless the two are linked already.
 */
const causedBy = async (tx: SqlExecutor, event: RecordedEvent, nodeId: string) => {
  const ids = event.metadata.causationId?.match(EVENT_IDS);
  if (!ids?.length) return;
  await tx.query(
    `INSERT INTO rm_lineage_edges (tenant, src, dst, kind, position)
     SELECT DISTINCT e.tenant, e.node_id, $3, 'caused', $4::bigint FROM rm_lineage_events e
      WHERE e.tenant = $1 AND e.event_id = ANY($2::text[]) AND e.node_id <> $3
        AND NOT EXISTS (SELECT 1 FROM rm_lineage_edges x WHERE x.tenant = e.tenant
          AND ((x.src = e.node_id AND x.dst = $3) OR (x.src = $3 AND x.dst = e.node_id)))
     ON CONFLICT DO NOTHING`,
    [event.metadata.tenant, ids.map((i) => i.toLowerCase()), nodeId, event.position],
  );
};
