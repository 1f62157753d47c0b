/**
 * Workflows in the admin API (mounted with the agent registry's under `/api/admin`, admin-api/registry.ts):
 *
 *   POST /workflows                {definition}        → 201 {name, version} (the same definition again: 200)
 *   GET  /workflows/:name          → {name, version, definition}
 *   POST /workflows/:name/runs     {input, runId?}     → 202 {runId, version} (Location: the run); 409 when
 *                                                        the run id is another run's (another tenant's,
 *                                                        workflow's or input's)
 *   GET  /workflow-runs/:id        → the run: status, steps in flight, results, compensations, output
 *
 * Every route is the caller's tenant's: another tenant's workflows and runs do not exist for it.
 * A start is idempotent: a retry with the same `runId`, or without one under the same `Idempotency-Key`
 * header (the run id is then derived from the tenant, the workflow and the key), answers as the first
 * did and starts nothing, however many arrive at once and at whichever edge.
 */
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import type { EdgeEnv } from '../a2a-edge/auth.ts';
import { notFound, parseCommand } from '../commands/errors.ts';
import { runIdForKey } from '../events/workflow.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import { defineWorkflow, latestWorkflow, readWorkflowRun, startWorkflowRun } from '../workflows/service.ts';

export const StartRunInput = z.object({
  /** At most AGENTCORE_MAX_RUN_INPUT_BYTES (workflows/service.ts). */
  input: z.string(),
  /** A retried request with the same run id starts nothing new. */
  runId: z.string().uuid().optional(),
});

export const mountWorkflowRoutes = (
  app: Hono<EdgeEnv>,
  store: EventStore,
  callerFrom: (c: Context<EdgeEnv>) => { tenant: string; principal: string },
  jsonBody: (c: Context<EdgeEnv>) => Promise<unknown>,
) => {
  app.post('/workflows', async (c) => {
    const { name, version, created } = await defineWorkflow(store, callerFrom(c), await jsonBody(c));
    return c.json({ name, version }, created ? 201 : 200);
  });
  app.get('/workflows/:name', async (c) => {
    const name = c.req.param('name');
    const latest = await latestWorkflow(store, callerFrom(c).tenant, name);
    if (!latest) throw notFound(`workflow ${name}`);
    return c.json({ name, ...latest });
  });
  app.post('/workflows/:name/runs', async (c) => {
    const caller = callerFrom(c);
    const name = c.req.param('name');
    const { input, runId } = parseCommand(StartRunInput, await jsonBody(c));
    // callerFrom has checked the key's form (admin-api/registry.ts).
    const key = c.req.header('idempotency-key');
    const id = runId ?? (key ? runIdForKey(caller.tenant, name, key) : undefined);
    const started = await startWorkflowRun(store, caller, name, input, id ? { runId: id } : {});
    c.header('Location', `/api/admin/workflow-runs/${started.runId}`);
    return c.json(started, 202);
  });
  app.get('/workflow-runs/:id', async (c) => {
    const id = c.req.param('id');
    const run = await readWorkflowRun(store, callerFrom(c).tenant, id);
    if (!run) throw notFound(`workflow run ${id}`);
    const { definition, ...rest } = run;
    return c.json({ workflow: definition?.name, ...rest });
  });
};
