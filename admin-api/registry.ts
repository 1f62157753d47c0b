/**
 * Admin HTTP API for the agent registry, mounted at `/api/admin` (the edge's `authenticate` middleware has
 * already read the API key). The caller acts for its key's tenant, or for `?tenant=` when the key may act
 * for it. Errors are `{error: {code, status, message, reason?}}`:
 * 400 invalid input (readable zod messages), 401 no/unknown key, 403 not allowed (another tenant, or a
 * built-in agent), 404 unknown agent (another tenant's agents do not exist for the caller), 409 already
 * registered / conflicting state, 422 the card could not be used (invalid, unreachable, SSRF refused).
 *
 *   POST   /agents                 {url, agentId?, costPerRequest?}  → 201 the agent (Location header)
 *   GET    /agents                 → {agents: [...]}: the tenant's, then the built-in ones (no card)
 *   GET    /agents/:id             → the agent, card included
 *   PATCH  /agents/:id             {costPerRequest?, description?}   → the agent
 *   POST   /agents/:id/disable     {reason}                          → the agent
 *   POST   /agents/:id/enable      → the agent
 *   POST   /agents/:id/refresh     [?unconditional=true]             → {outcome, agent}
 *   DELETE /agents/:id             → 204
 *   and the workflow routes of admin-api/workflows.ts (/workflows, /workflow-runs)
 *
 * A request may carry `Idempotency-Key`: the command id, so a retried request is not applied twice.
 */
import { type Context, Hono } from 'hono';
import type { Logger } from 'pino';
import { callerOf, type EdgeEnv } from '../a2a-edge/auth.ts';
import { A2AError } from '../a2a-edge/errors.ts';
import { AgentCardError } from '../agents/cards.ts';
import {
  deregisterAgent,
  disableAgent,
  enableAgent,
  getAgent,
  listAgents,
  type RegistryCaller,
  type RegistryDeps,
  refreshAgentCard,
  registerRemoteAgent,
  updateAgent,
} from '../agents/registry.ts';
import { CommandError } from '../commands/errors.ts';
import type { SqlExecutor } from '../infra/sql/port.ts';
import { auditAdminRefusal } from './audit.ts';
import { mountWorkflowRoutes } from './workflows.ts';

export interface AdminDeps extends RegistryDeps {
  readModels: SqlExecutor;
  log?: Logger;
}

type Status = 400 | 401 | 403 | 404 | 409 | 413 | 422 | 500;

export class AdminError extends Error {
  constructor(
    readonly code: Status,
    readonly status: string,
    message: string,
    readonly reason?: string,
  ) {
    super(message);
  }
}

const REASON_STATUS: Record<string, [Status, string]> = {
  ALREADY_EXISTS: [409, 'ALREADY_EXISTS'],
  PERMISSION_DENIED: [403, 'PERMISSION_DENIED'],
  NOT_FOUND: [404, 'NOT_FOUND'],
  FAILED_PRECONDITION: [409, 'FAILED_PRECONDITION'],
};

export const toAdminError = (error: unknown): AdminError => {
  if (error instanceof AdminError) return error;
  if (error instanceof AgentCardError)
    return new AdminError(422, 'FAILED_PRECONDITION', error.message, error.reason);
  if (error instanceof A2AError) return new AdminError(error.http as Status, error.status, error.message);
  if (error instanceof CommandError) {
    const reason = (error.details as { reason?: string } | undefined)?.reason;
    const mapped = reason ? REASON_STATUS[reason] : undefined;
    if (mapped) return new AdminError(mapped[0], mapped[1], error.message, reason);
    switch (error.kind) {
      case 'validation':
        return new AdminError(400, 'INVALID_ARGUMENT', error.message);
      case 'not_found':
        return new AdminError(404, 'NOT_FOUND', error.message);
      case 'rule_violated':
        return new AdminError(409, 'FAILED_PRECONDITION', error.message);
      case 'conflict':
        return new AdminError(409, 'ABORTED', error.message);
    }
  }
  return new AdminError(500, 'INTERNAL', 'Internal error');
};

const errorBody = (e: AdminError) => ({
  error: { code: e.code, status: e.status, message: e.message, ...(e.reason ? { reason: e.reason } : {}) },
});

export const callerFrom = (c: Context<EdgeEnv>): RegistryCaller => {
  const caller = callerOf(c, c.req.query('tenant') || undefined);
  const key = c.req.header('idempotency-key');
  if (key !== undefined && !/^[\x21-\x7e]{1,200}$/.test(key)) {
    throw new AdminError(400, 'INVALID_ARGUMENT', 'Idempotency-Key must be 1-200 visible ASCII characters');
  }
  return { ...caller, ...(key ? { commandId: `admin:${key}` } : {}) };
};

export const jsonBody = async (c: Context<EdgeEnv>, required = true): Promise<unknown> => {
  const text = await c.req.text();
  if (!text.trim()) {
    if (required) throw new AdminError(400, 'INVALID_ARGUMENT', 'a JSON body is required');
    return {};
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new AdminError(400, 'INVALID_ARGUMENT', `the body is not valid JSON: ${(error as Error).message}`);
  }
};

export const adminRoutes = (deps: AdminDeps) => {
  const app = new Hono<EdgeEnv>();
  app.onError(async (error, c) => {
    const e = toAdminError(error);
    if (e.code === 500) deps.log?.error({ err: error, path: c.req.path }, 'admin API request failed');
    await auditAdminRefusal(deps.store, c, error, e); // admin-api/audit.ts
    return c.json(errorBody(e), e.code);
  });
  app.use('*', async (c, next) => {
    callerFrom(c); // 401/403 before anything else is looked at
    await next();
  });

  app.post('/agents', async (c) => {
    const caller = callerFrom(c);
    const agent = await registerRemoteAgent(deps, caller, (await jsonBody(c)) as never);
    c.header('Location', `/api/admin/agents/${agent.agentId}`);
    return c.json(agent, 201);
  });
  app.get('/agents', async (c) => c.json({ agents: await listAgents(deps, callerFrom(c)) }));
  app.get('/agents/:id', async (c) => c.json(await getAgent(deps, callerFrom(c), c.req.param('id'))));
  app.patch('/agents/:id', async (c) =>
    c.json(await updateAgent(deps, callerFrom(c), c.req.param('id'), (await jsonBody(c)) as never)),
  );
  app.post('/agents/:id/disable', async (c) =>
    c.json(await disableAgent(deps, callerFrom(c), c.req.param('id'), (await jsonBody(c)) as never)),
  );
  app.post('/agents/:id/enable', async (c) =>
    c.json(await enableAgent(deps, callerFrom(c), c.req.param('id'))),
  );
  app.post('/agents/:id/refresh', async (c) => {
    const unconditional = ['true', '1'].includes(c.req.query('unconditional') ?? '');
    const { outcome, view } = await refreshAgentCard(deps, callerFrom(c), c.req.param('id'), {
      unconditional,
    });
    return c.json({ outcome, agent: view });
  });
  app.delete('/agents/:id', async (c) => {
    await deregisterAgent(deps, callerFrom(c), c.req.param('id'));
    return c.body(null, 204);
  });
  mountWorkflowRoutes(app, deps.store, callerFrom, (c) => jsonBody(c)); // admin-api/workflows.ts
  app.notFound((c) =>
    c.json(errorBody(new AdminError(404, 'NOT_FOUND', `no admin route ${c.req.method} ${c.req.path}`)), 404),
  );
  return app;
};
