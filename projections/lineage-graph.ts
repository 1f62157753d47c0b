/**
 * Reading one graph out of the lineage read model: what produced a node (its ancestors) and what it went on
 * to cause (its descendants), plus the circuit changes that influenced a decision in it, at most `maxNodes`.
 */
import type { SqlDatabase, SqlExecutor } from '../infra/sql/port.ts';

/** The most nodes one answer holds by default, and the most a caller may ask for (`maxNodes`). */
export const LINEAGE_DEFAULT_NODES = 500;
export const LINEAGE_MAX_NODES = 2000;

export interface LineageNode {
  id: string;
  kind: string;
  label: string;
  at: string;
  correlationId: string;
  causationId: string | null;
  attributes: Record<string, unknown>;
}
export interface LineageEdge {
  from: string;
  to: string;
  kind: string;
}
export interface LineageGraph {
  root: string;
  nodes: LineageNode[];
  edges: LineageEdge[];
  /** More nodes were reachable than `maxNodes`: the graph shown is cut (root and ancestors first). */
  truncated: boolean;
}

interface NodeRow {
  id: string;
  kind: string;
  label: string;
  occurred_at: string | Date;
  correlation_id: string;
  causation_id: string | null;
  attributes: Record<string, unknown>;
}

/**
 * Ancestors follow every edge backwards; descendants follow every edge forwards but `influenced` (a circuit
 * change influenced many decisions: those belong to their own tasks' graphs, not to the call that tripped
 * it). Both walks stop once they hold `maxNodes + 1` ids (PostgreSQL evaluates a recursive WITH only as
 * far as the outer query reads), so a huge graph costs what the cap allows.
 */
const REACH = `
  WITH RECURSIVE
    up(id) AS (SELECT $2::text UNION
      SELECT e.src FROM rm_lineage_edges e JOIN up u ON e.tenant = $1 AND e.dst = u.id),
    down(id) AS (SELECT $2::text UNION
      SELECT e.dst FROM rm_lineage_edges e JOIN down d ON e.tenant = $1 AND e.src = d.id
       WHERE e.kind <> 'influenced')
  SELECT id, 0 AS side FROM (SELECT id FROM up LIMIT $3) a
  UNION ALL SELECT id, 1 AS side FROM (SELECT id FROM down LIMIT $3) b`;

/**
 * The graph around `root` (a node id) in the tenant's read model; null when the tenant has no such node.
 * Its five reads share one snapshot: read apart, a batch the projection commits between the walk and the
 * node rows would show a run already `failed` without the compensation step the walk did not yet reach.
 */
export const lineageGraph = (
  db: SqlDatabase,
  tenant: string,
  root: string,
  maxNodes = LINEAGE_DEFAULT_NODES,
): Promise<LineageGraph | null> =>
  db.transaction(async (tx) => {
    await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    return readGraph(tx, tenant, root, maxNodes);
  });

const readGraph = async (
  db: SqlExecutor,
  tenant: string,
  root: string,
  maxNodes: number,
): Promise<LineageGraph | null> => {
  const [exists] = await db.query('SELECT 1 FROM rm_lineage_nodes WHERE tenant = $1 AND id = $2', [
    tenant,
    root,
  ]);
  if (!exists) return null;
  const reached = await db.query<{ id: string; side: number }>(REACH, [tenant, root, maxNodes + 1]);
  // Root, then ancestors (what produced it), then descendants, in the order the walks found them.
  const order = [root];
  const seen = new Set(order);
  let truncated = false;
  for (const side of [0, 1]) {
    const ids = reached.filter((r) => Number(r.side) === side).map((r) => r.id);
    if (ids.length > maxNodes) truncated = true;
    for (const id of ids) if (!seen.has(id)) seen.add(id) && order.push(id);
  }
  // The circuit changes a decision here read (one hop back along `influenced`).
  const influencers = await db.query<{ src: string }>(
    `SELECT DISTINCT src FROM rm_lineage_edges WHERE tenant = $1 AND kind = 'influenced'
        AND dst = ANY($2::text[]) ORDER BY src`,
    [tenant, order],
  );
  for (const { src } of influencers) if (!seen.has(src)) seen.add(src) && order.push(src);
  // Edges may name nodes not projected yet (a step's task before it is submitted): only real nodes count.
  const rows = await db.query<NodeRow>(
    `SELECT id, kind, label, occurred_at, correlation_id, causation_id, attributes FROM rm_lineage_nodes
      WHERE tenant = $1 AND id = ANY($2::text[])`,
    [tenant, order],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  const present = order.filter((id) => byId.has(id));
  if (present.length > maxNodes) truncated = true;
  const kept = present.slice(0, maxNodes);
  const edges = await db.query<{ src: string; dst: string; kind: string }>(
    `SELECT src, dst, kind FROM rm_lineage_edges
      WHERE tenant = $1 AND src = ANY($2::text[]) AND dst = ANY($2::text[]) ORDER BY position, src, dst, kind`,
    [tenant, kept],
  );
  return {
    root,
    nodes: kept.map((id) => toNode(byId.get(id)!)),
    edges: edges.map((e) => ({ from: e.src, to: e.dst, kind: e.kind })),
    truncated,
  };
};

const toNode = (r: NodeRow): LineageNode => ({
  id: r.id,
  kind: r.kind,
  label: r.label,
  at: new Date(r.occurred_at).toISOString(),
  correlationId: r.correlation_id,
  causationId: r.causation_id,
  attributes: r.attributes,
});
