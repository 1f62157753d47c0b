/**
 * Tasks and workflow runs for dashboards: filtered lists with cursor paging, and one item with an ETag.
 *
 *   GET /api/tasks?state=&agent=&contextId=&from=&to=&text=&limit=&cursor=   → {tasks, nextCursor}
 *   GET /api/tasks/{id}                                                      → the A2A Task (ETag)
 *   GET /api/workflow-runs?workflow=&status=&from=&to=&limit=&cursor=        → {runs, nextCursor}
 *   GET /api/workflow-runs/{id}                                              → the run (ETag)
 */
import type { Context } from 'hono';
import { z } from 'zod';
import type { EdgeEnv } from '../a2a-edge/auth.ts';
import { TASK_STATES } from '../events/a2a.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';
import { readTaskRow, searchTasks } from '../projections/tasks.ts';
import { listWorkflowRuns, RUN_STATUSES } from '../projections/workflow-runs.ts';
import { readWorkflowRun } from '../workflows/service.ts';
import { cursorParam, encodeCursor } from './cursor.ts';
import { apiError, notFoundError, readErrors, readRoute, readRouter, tenantOf } from './openapi.ts';
import { queryInstant, queryLimit, queryParams, queryText, rangeInOrder } from './query-text.ts';

const SHORT_STATES = TASK_STATES.map((s) => s.slice('TASK_STATE_'.length).toLowerCase());

const TaskQuery = rangeInOrder(
  queryParams({
    state: z
      .string()
      .transform((s) => (s.startsWith('TASK_STATE_') ? s : `TASK_STATE_${s.toUpperCase()}`))
      .pipe(z.enum(TASK_STATES, { message: `must be one of ${SHORT_STATES.join(', ')} (or TASK_STATE_...)` }))
      .optional(),
    agent: queryText(200).optional(),
    contextId: queryText(200).optional(),
    from: queryInstant.optional(),
    to: queryInstant.optional(),
    text: queryText(200).min(2, 'at least 2 characters').optional(),
    limit: queryLimit(200, 50),
    cursor: cursorParam.optional(),
    tenant: queryText(63).optional(),
  }),
);

const RunQuery = rangeInOrder(
  queryParams({
    workflow: queryText(200).optional(),
    status: z.enum(RUN_STATUSES, { message: `must be one of ${RUN_STATUSES.join(', ')}` }).optional(),
    from: queryInstant.optional(),
    to: queryInstant.optional(),
    limit: queryLimit(200, 50),
    cursor: cursorParam.optional(),
    tenant: queryText(63).optional(),
  }),
);

const ItemQuery = queryParams({ tenant: queryText(63).optional() });
const Id = z.object({ id: z.string().min(1).max(200) });

const TaskSummary = z.object({
  id: z.string(),
  contextId: z.string(),
  state: z.enum(TASK_STATES),
  agent: z.string().nullable(),
  statusAt: z.string(),
  revision: z.number().int(),
});
const RunSummary = z.object({
  id: z.string(),
  workflow: z.string(),
  version: z.number().int(),
  contextId: z.string(),
  status: z.enum(RUN_STATUSES),
  startedAt: z.string(),
  updatedAt: z.string(),
  endedAt: z.string().nullable(),
  steps: z.object({ scheduled: z.number().int(), completed: z.number().int(), failed: z.number().int() }),
  reason: z.string().nullable(),
});
const page = <T extends z.ZodType>(name: string, item: T) =>
  z.object({ [name]: z.array(item), nextCursor: z.string().nullable() });

const json = (schema: z.ZodType, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

/** An ETag from what changes the item (its revision): a conditional GET answers 304 without a body. */
const withETag = (c: Context<EdgeEnv>, tag: string) => {
  const etag = `W/"${tag}"`;
  c.header('ETag', etag);
  c.header('Cache-Control', 'private, no-cache');
  return c.req.header('if-none-match') === etag;
};

const routes = {
  tasks: readRoute({
    method: 'get',
    path: '/tasks',
    summary: "The tenant's tasks, newest status change first",
    request: { query: TaskQuery },
    responses: { 200: json(page('tasks', TaskSummary), 'A page of tasks'), ...readErrors },
  }),
  task: readRoute({
    method: 'get',
    path: '/tasks/{id}',
    summary: 'One task as A2A GetTask returns it, with its agent',
    request: { params: Id, query: ItemQuery },
    responses: {
      200: json(
        z.object({ task: z.record(z.string(), z.unknown()), agent: z.string().nullable() }),
        'The task',
      ),
      304: { description: 'Unchanged since the ETag given in If-None-Match' },
      ...readErrors,
      ...notFoundError,
    },
  }),
  runs: readRoute({
    method: 'get',
    path: '/workflow-runs',
    summary: "The tenant's workflow runs, newest first",
    request: { query: RunQuery },
    responses: { 200: json(page('runs', RunSummary), 'A page of runs'), ...readErrors },
  }),
  run: readRoute({
    method: 'get',
    path: '/workflow-runs/{id}',
    summary: 'One workflow run: status, steps, results, compensations, output',
    request: { params: Id, query: ItemQuery },
    responses: {
      200: json(z.record(z.string(), z.unknown()), 'The run'),
      304: { description: 'Unchanged since the ETag given in If-None-Match' },
      ...readErrors,
      ...notFoundError,
    },
  }),
};

export const taskRoutes = (deps: { readModels: SqlExecutor; store: EventStore }) => {
  const app = readRouter();
  app.openapi(routes.tasks, async (c) => {
    const { cursor, tenant: _, ...q } = c.req.valid('query');
    const limit = q.limit;
    const tasks = await searchTasks(deps.readModels, {
      ...q,
      tenant: tenantOf(c),
      ...(cursor ? { after: cursor } : {}),
    });
    const last = tasks.length === limit ? tasks[tasks.length - 1] : undefined;
    return c.json({ tasks, nextCursor: last ? encodeCursor({ at: last.statusAt, id: last.id }) : null }, 200);
  });
  app.openapi(routes.task, async (c) => {
    const { id } = c.req.valid('param');
    const row = await readTaskRow(deps.readModels, tenantOf(c), id);
    if (!row) return c.json(apiError(404, 'NOT_FOUND', `no task ${id}`), 404);
    if (withETag(c, `${row.revision}`)) return c.body(null, 304);
    return c.json({ task: row.task, agent: row.agent }, 200);
  });
  app.openapi(routes.runs, async (c) => {
    const { cursor, tenant: _, ...q } = c.req.valid('query');
    const runs = await listWorkflowRuns(deps.readModels, {
      ...q,
      tenant: tenantOf(c),
      ...(cursor ? { after: cursor } : {}),
    });
    const last = runs.length === q.limit ? runs[runs.length - 1] : undefined;
    return c.json({ runs, nextCursor: last ? encodeCursor({ at: last.startedAt, id: last.id }) : null }, 200);
  });
  app.openapi(routes.run, async (c) => {
    const { id } = c.req.valid('param');
    const run = await readWorkflowRun(deps.store, tenantOf(c), id);
    if (!run) return c.json(apiError(404, 'NOT_FOUND', `no workflow run ${id}`), 404);
    if (withETag(c, `${run.revision}`)) return c.body(null, 304);
    const { definition, ...rest } = run;
    return c.json({ workflow: definition?.name, ...rest }, 200);
  });
  return app;
};
