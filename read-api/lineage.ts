/**
 * Lineage for dashboards and operators: the causal graph of a task or a workflow run.
 *
 *   GET /api/lineage/tasks/:id?maxNodes=500   GET /api/lineage/runs/:id?maxNodes=500
 *
 * Answers `{root, nodes, edges, truncated}` (projections/lineage-graph.ts): each node `{id, kind, label, at,
 * correlationId, causationId, attributes}`, each routing decision with a `why` in plain words; edges
 * `{from, to, kind}`, cause → effect. At most `maxNodes` nodes (default 500, at most 2000): past it,
 * `truncated: true`. Scoped to the caller's tenant (or `tenant`, when the key may act for it): another
 * tenant's id answers 404 like an unknown one. 401 without a key, 400 for a malformed id or parameter.
 * The read model is kept asynchronously: a task just submitted may take a moment to appear.
 */
import type { JSONValue } from 'hono/utils/types';
import { z } from 'zod';
import type { SqlDatabase } from '../infra/sql/port.ts';
import { lineageIds } from '../projections/lineage.ts';
import {
  LINEAGE_DEFAULT_NODES,
  LINEAGE_MAX_NODES,
  type LineageNode,
  lineageGraph,
} from '../projections/lineage-graph.ts';
import { whyOfDecision } from './lineage-why.ts';
import { apiError, notFoundError, readErrors, readRoute, readRouter, tenantOf } from './openapi.ts';
import { queryParams, queryText } from './query-text.ts';

const Query = queryParams({
  maxNodes: z.coerce
    .number({ message: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(LINEAGE_MAX_NODES, `must be at most ${LINEAGE_MAX_NODES}`)
    .default(LINEAGE_DEFAULT_NODES),
  tenant: queryText(63).optional(),
});

/** Task and run ids are UUIDs as the hub makes them: anything else names nothing. */
const Id = (what: string) =>
  z.object({
    id: z
      .string()
      .regex(
        /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
        `a ${what} id is a UUID as the hub gives it`,
      ),
  });

const Graph = z.object({
  root: z.string(),
  nodes: z.array(
    z.object({
      id: z.string(),
      kind: z.string(),
      label: z.string(),
      at: z.string(),
      correlationId: z.string(),
      causationId: z.string().nullable(),
      attributes: z.record(z.string(), z.unknown()),
      why: z.string().optional().describe('Routing decisions: why this agent, why not the others'),
    }),
  ),
  edges: z.array(z.object({ from: z.string(), to: z.string(), kind: z.string() })),
  truncated: z.boolean(),
});

/** A node as served: decisions say why. Attributes come from a jsonb column: JSON by construction. */
const served = (node: LineageNode, tenant: string) => ({
  ...node,
  attributes: node.attributes as Record<string, JSONValue>,
  ...(node.kind === 'routing-decision' ? { why: whyOfDecision(node.attributes, tenant) } : {}),
});

const routes = {
  task: readRoute({
    method: 'get',
    path: '/lineage/tasks/{id}',
    summary: 'The causal graph of a task',
    request: { params: Id('task'), query: Query },
    responses: {
      200: { description: 'The graph', content: { 'application/json': { schema: Graph } } },
      ...readErrors,
      ...notFoundError,
    },
  }),
  run: readRoute({
    method: 'get',
    path: '/lineage/runs/{id}',
    summary: 'The causal graph of a workflow run',
    request: { params: Id('run'), query: Query },
    responses: {
      200: { description: 'The graph', content: { 'application/json': { schema: Graph } } },
      ...readErrors,
      ...notFoundError,
    },
  }),
};

export const lineageRoutes = (db: SqlDatabase) => {
  const app = readRouter();
  /** The graph as served, or null: no such task or run in the tenant's lineage. */
  const graphOf = async (tenant: string, what: 'task' | 'run', id: string, maxNodes: number) => {
    const root = what === 'task' ? lineageIds.task(id.toLowerCase()) : lineageIds.run(id.toLowerCase());
    const found = await lineageGraph(db, tenant, root, maxNodes);
    return found && { ...found, nodes: found.nodes.map((n) => served(n, tenant)) };
  };
  const missing = (what: string, id: string) =>
    apiError(404, 'NOT_FOUND', `no ${what} ${id} in this tenant's lineage`);
  app.openapi(routes.task, async (c) => {
    const { id } = c.req.valid('param');
    const graph = await graphOf(tenantOf(c), 'task', id, c.req.valid('query').maxNodes);
    return graph ? c.json(graph, 200) : c.json(missing('task', id), 404);
  });
  app.openapi(routes.run, async (c) => {
    const { id } = c.req.valid('param');
    const graph = await graphOf(tenantOf(c), 'run', id, c.req.valid('query').maxNodes);
    return graph ? c.json(graph, 200) : c.json(missing('run', id), 404);
  });
  return app;
};
