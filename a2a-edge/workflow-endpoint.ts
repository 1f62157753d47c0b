/**
 * Each workflow of a tenant is an A2A agent of its own: `GET /a2a/workflows/{name}/agent-card.json` is its
 * card (the caller's tenant's workflow; authenticated, since workflows are a tenant's) and
 * `POST /a2a/workflows/{name}/jsonrpc` (with or without a trailing slash) its JSON-RPC endpoint, where every new task starts a run of the
 * workflow (agents/workflow-agent.ts) and streams its progress. Reads and cancels of the task work there and
 * at the hub's own endpoint alike. Asked with `A2A-Version: 1.0`, the card is a strict v1.0 AgentCard.
 */
import { Hono } from 'hono';
import { WORKFLOW_AGENT_PREFIX } from '../agents/workflow-agent.ts';
import type { EventStore } from '../infra/event-store/port.ts';
import { latestWorkflow } from '../workflows/service.ts';
import { callerOf, type EdgeEnv } from './auth.ts';
import { cacheableJson, cardDialect, securityRequirements, securitySchemes, skillV1 } from './card.ts';
import { A2AError } from './errors.ts';
import { jsonRpcHandler } from './jsonrpc.ts';
import { respondError } from './rest.ts';
import type { A2AService } from './service.ts';
import type { BindingOptions } from './types.ts';

export interface WorkflowEndpointOptions {
  service: A2AService;
  bindings: BindingOptions;
  store: EventStore;
  publicUrl?: string;
  capabilities: { streaming: boolean; pushNotifications: boolean };
}

export const workflowRoutes = (o: WorkflowEndpointOptions) => {
  const app = new Hono<EdgeEnv>();
  app.get('/:name/agent-card.json', async (c) => {
    const name = c.req.param('name');
    const report = { log: o.bindings.log, requestId: c.get('requestId') };
    try {
      const caller = callerOf(c);
      const latest = await latestWorkflow(o.store, caller.tenant, name);
      if (!latest) throw new A2AError('NOT_FOUND', `No workflow named "${name}"`);
      const base = o.publicUrl ?? new URL(c.req.url).origin;
      const { definition, version } = latest;
      const skills = definition.skills.length
        ? definition.skills.map(skillV1)
        : [
            {
              id: name,
              name,
              description: definition.description || `Runs workflow ${name}`,
              tags: ['workflow'],
            },
          ];
      const card = {
        name: `${name} (workflow)`,
        description:
          definition.description || `Workflow ${name}: ${Object.keys(definition.nodes).length} nodes`,
        version: String(version),
        provider: { organization: 'AgentCore', url: base },
        supportedInterfaces: [
          {
            url: `${base}/a2a/workflows/${name}/jsonrpc`,
            protocolBinding: 'JSONRPC',
            protocolVersion: '1.0',
          },
        ],
        capabilities: { ...o.capabilities, extendedAgentCard: false },
        defaultInputModes: ['text/plain'],
        defaultOutputModes: ['text/plain'],
        skills,
        securitySchemes: securitySchemes(cardDialect(c)),
        securityRequirements,
      };
      return cacheableJson(card, new Date(0), 60, 'private')(c);
    } catch (error) {
      return respondError(error, report);
    }
  });
  // Its card declares no extended card, so the endpoint has none either (A2A §3.3.4).
  const bindings: BindingOptions = {
    ...o.bindings,
    extendedCard: () => {
      throw new A2AError('UNSUPPORTED_OPERATION', 'A workflow has no extended agent card');
    },
  };
  for (const path of ['/:name/jsonrpc', '/:name/jsonrpc/']) {
    app.post(path, (c) =>
      jsonRpcHandler(o.service.boundTo(`${WORKFLOW_AGENT_PREFIX}${c.req.param('name')}`), bindings)(c),
    );
  }
  return app;
};
