/**
 * How the lineage projection writes its tables (rm_lineage_nodes, rm_lineage_edges, rm_lineage_events):
 * nodes, their attribute patches, edges, and the edges a causation id implies, buffered per batch
 * (projections/lineage-writes.ts). Every write is keyed, so a replayed event changes nothing.
 */
import type { RecordedEvent } from '../events/envelope.ts';
import { causationEventIds, type LineageWrites } from './lineage-writes.ts';

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
export const noteEvent = (w: LineageWrites, event: RecordedEvent, nodeId: string) =>
  w.noteEvent({ tenant: event.metadata.tenant, event_id: event.id, node_id: nodeId });

/**
 * Adds the node (the first event to name it wins), its `incoming` edges ([from, kind]), then the edges its
 * causation id implies between nodes not linked already.
 */
export const addNode = async (
  w: LineageWrites,
  event: RecordedEvent,
  node: NodeInput,
  incoming: ReadonlyArray<readonly [from: string | null, kind: string]> = [],
) => {
  for (const [from, kind] of incoming) if (from) addEdge(w, event, from, node.id, kind);
  const m = event.metadata;
  await w.insertNode({
    tenant: m.tenant,
    ...node,
    correlation_id: m.correlationId,
    causation_id: m.causationId,
    event_id: event.id,
    position: event.position,
    occurred_at: event.occurredAt,
  });
  noteEvent(w, event, node.id);
  await causedBy(w, event, node.id);
};

/** Merges `attributes` into the node's (a later event's news: a state, an outcome); a missing node stays so. */
export const patchNode = (
  w: LineageWrites,
  event: RecordedEvent,
  id: string,
  attributes: Record<string, unknown>,
) => w.patchNode(event.metadata.tenant, id, attributes);

export const addEdge = (w: LineageWrites, event: RecordedEvent, src: string, dst: string, kind: string) => {
  if (src !== dst) w.addEdge({ tenant: event.metadata.tenant, src, dst, kind, position: event.position });
};

/** Whether the tenant has this node. */
export const hasNode = (w: LineageWrites, tenant: string, id: string): Promise<boolean> =>
  w.hasNode(tenant, id);

/** The most recent node of a kind about `subject` (before `event`) whose attributes contain `match`. */
export const latestNode = async (
  w: LineageWrites,
  event: RecordedEvent,
  kind: string,
  subject: string,
  match: Record<string, unknown> = {},
): Promise<string | null> => {
  const [row] = await w.read<{ id: string }>(
    `SELECT id FROM rm_lineage_nodes WHERE tenant = $1 AND kind = $2 AND subject = $3
       AND attributes @> $4::text::jsonb AND position <= $5
     ORDER BY position DESC, id DESC LIMIT 1`,
    [event.metadata.tenant, kind, subject, JSON.stringify(match), event.position],
  );
  return row?.id ?? null;
};

/** Nodes made by events with this causation id (the same command's other effects). */
export const nodesCausedAlike = async (w: LineageWrites, event: RecordedEvent, kind: string) =>
  event.metadata.causationId === null
    ? []
    : (
        await w.read<{ id: string }>(
          'SELECT id FROM rm_lineage_nodes WHERE tenant = $1 AND causation_id = $2 AND kind = $3 ORDER BY id',
          [event.metadata.tenant, event.metadata.causationId, kind],
        )
      ).map((r) => r.id);

/**
 * Causation edges: the hub's command ids name the event that caused them (`wf-outcome:<event id>`,
 * `route:<event id>`, `circuit:<event id>`), so a node made by such a command is linked (`caused`) from the
 * node that event touched, unless the two are linked already. Most causation ids name no event the graph
 * noted (a client's message id): the buffer knows that without a statement.
 */
const causedBy = async (w: LineageWrites, event: RecordedEvent, nodeId: string) => {
  const ids = causationEventIds(event);
  if (!ids.length) return;
  const known = w.causingNodes(event.metadata.tenant, ids);
  if (known?.every((n) => n === nodeId)) return;
  await w.read(
    `INSERT INTO rm_lineage_edges (tenant, src, dst, kind, position)
     SELECT DISTINCT e.tenant, e.node_id, $3, 'caused', $4::bigint FROM rm_lineage_events e
      WHERE e.tenant = $1 AND e.event_id = ANY($2::text[]) AND e.node_id <> $3
        AND NOT EXISTS (SELECT 1 FROM rm_lineage_edges x WHERE x.tenant = e.tenant
          AND ((x.src = e.node_id AND x.dst = $3) OR (x.src = $3 AND x.dst = e.node_id)))
     ON CONFLICT DO NOTHING`,
    [event.metadata.tenant, ids, nodeId, event.position],
  );
};
